"""A real local Apache Kafka cluster (KRaft) run from the official Maven Central jars."""

from core.local.cluster import ClusterState, LocalCluster
from core.local.jars import KAFKA_VERSION, ensure_jars, find_java, java_classpath

__all__ = [
    "KAFKA_VERSION", "ClusterState", "LocalCluster", "ensure_jars", "find_java", "java_classpath",
]
