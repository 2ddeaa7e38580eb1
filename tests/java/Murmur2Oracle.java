// Reference values for core/partitioner.py, computed by Apache Kafka's own Java client.
//
// Run (Java 17+ single-file source launch):
//   java -cp '<kafka libs dir>/*' tests/java/Murmur2Oracle.java < input
// Input lines:  <key as lowercase hex of its bytes (empty for an empty key)> TAB <partitions>
// Output lines: <Utils.murmur2(key)> TAB <BuiltInPartitioner.partitionForKey(key, partitions)>
// It exits non-zero if partitionForKey ever disagrees with Utils.toPositive(murmur2) % n.

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class Murmur2Oracle {
    private static byte[] unhex(String hex) {
        byte[] out = new byte[hex.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(
            new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        BufferedWriter out = new BufferedWriter(
            new OutputStreamWriter(System.out, StandardCharsets.US_ASCII));
        String line;
        int lineNo = 0;
        while ((line = in.readLine()) != null) {
            lineNo++;
            if (line.isEmpty()) {
                continue;
            }
            int tab = line.indexOf('\t');
            byte[] key = unhex(line.substring(0, tab));
            int partitions = Integer.parseInt(line.substring(tab + 1));
            int hash = Utils.murmur2(key);
            int partition = BuiltInPartitioner.partitionForKey(key, partitions);
            if (partition != Utils.toPositive(hash) % partitions) {
                System.err.println("line " + lineNo + ": partitionForKey disagrees with toPositive");
                System.exit(2);
            }
            out.write(hash + "\t" + partition + "\n");
        }
        out.flush();
    }
}
