# DynamoDB: Amazon's DynamoDB Local, as bundled by the npm package
# amplify-dynamodb-simulator, run in memory on a free loopback port with the
# preinstalled Java. Exports AWS_ENDPOINT_URL_DYNAMODB.
#
# DynamoDB Local has no bind-address option and listens on every interface, so
# a ten-line launcher (compiled once into the cache) starts it the way its own
# ServerRunner does and binds its Jetty connector to 127.0.0.1 before start.
# Only the package's tarball is fetched (npm pack): the jar and its libraries
# are all in it, and its JavaScript dependencies are not needed.
DDB_LOCAL_PKG=amplify-dynamodb-simulator@2.9.30
DDB_LOCAL_DIR=$EVENTFN_CACHE/dynamodb-local/${DDB_LOCAL_PKG//@/-}

if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
	log "installing a Java 17 JDK"
	apt_install openjdk-17-jdk-headless
fi

# The readiness check below posts an API call with curl.
if ! command -v curl >/dev/null; then
	log "installing curl"
	apt_install curl
fi

if [ ! -f "$DDB_LOCAL_DIR/.installed" ]; then
	log "installing DynamoDB Local from npm $DDB_LOCAL_PKG"
	rm -rf "$DDB_LOCAL_DIR"
	mkdir -p "$DDB_LOCAL_DIR/pkg" "$DDB_LOCAL_DIR/launcher"
	(cd "$DDB_LOCAL_DIR" && npm pack --silent "$DDB_LOCAL_PKG" >/dev/null)
	tar -xzf "$DDB_LOCAL_DIR"/amplify-dynamodb-simulator-*.tgz -C "$DDB_LOCAL_DIR/pkg"
	rm -f "$DDB_LOCAL_DIR"/amplify-dynamodb-simulator-*.tgz
	cat >"$DDB_LOCAL_DIR/launcher/LoopbackDynamoDBLocal.java" <<'JAVA'
import com.amazonaws.services.dynamodbv2.local.main.CommandLineInput;
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.monitoring.TelemetryUtil;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.io.File;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

// Starts DynamoDB Local as its ServerRunner does, bound to 127.0.0.1 only.
public class LoopbackDynamoDBLocal {
  public static void main(String[] args) throws Exception {
    CommandLineInput cli = new CommandLineInput(args);
    if (!cli.init()) {
      System.exit(2);
    }
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    try {
      ServerRunner.setUpTelemetry(TelemetryUtil.getSetupType(new File("/.dockerenv"), new File("pom.xml")),
          TelemetryUtil.getSetupMode(cli));
    } catch (Exception e) {
      // -disableTelemetry is passed; nothing to set up.
    }
    Field f = DynamoDBProxyServer.class.getDeclaredField("server");
    f.setAccessible(true);
    int bound = 0;
    for (Connector c : ((Server) f.get(proxy)).getConnectors()) {
      if (c instanceof ServerConnector) {
        ((ServerConnector) c).setHost("127.0.0.1");
        bound++;
      }
    }
    if (bound == 0) {
      System.err.println("LoopbackDynamoDBLocal: no connector to bind to 127.0.0.1");
      System.exit(3);
    }
    proxy.start();
    proxy.join();
  }
}
JAVA
	(cd "$DDB_LOCAL_DIR/pkg/package/emulator" &&
		javac -nowarn -cp 'DynamoDBLocal.jar:DynamoDBLocal_lib/*' -d "$DDB_LOCAL_DIR/launcher" \
			"$DDB_LOCAL_DIR/launcher/LoopbackDynamoDBLocal.java" >&2)
	touch "$DDB_LOCAL_DIR/.installed"
fi

DYNAMODB_PORT=$(free_port)
# The jar finds its native sqlite library through java.library.path, relative
# to its own directory; exec keeps the pid start_bg records the server's own.
start_bg dynamodb bash -c 'cd "$1" && shift && exec "$@"' _ "$DDB_LOCAL_DIR/pkg/package/emulator" \
	java -Xmx1g -Djava.library.path=./DynamoDBLocal_lib \
	-cp "DynamoDBLocal.jar:DynamoDBLocal_lib/*:$DDB_LOCAL_DIR/launcher" LoopbackDynamoDBLocal \
	-inMemory -sharedDb -disableTelemetry -port "$DYNAMODB_PORT"
wait_port 127.0.0.1 "$DYNAMODB_PORT" 60 dynamodb
# Ready when it answers an API call, not only when the port is open.
for _ddb_i in $(seq 1 100); do
	if curl -fsS -o /dev/null -X POST "http://127.0.0.1:$DYNAMODB_PORT/" \
		-H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
		-d '{}' 2>/dev/null; then
		break
	fi
	if [ "$_ddb_i" = 100 ]; then
		log "DynamoDB Local did not answer ListTables; its log:"
		tail -n 50 "$EVENTFN_LOGS/dynamodb.log" >&2
		return 1 2>/dev/null || exit 1
	fi
	sleep 0.1
done
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
log "DynamoDB Local on $AWS_ENDPOINT_URL_DYNAMODB"
