package dev.pipectl.localnode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.client.Client;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.join.ParentJoinPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.percolator.PercolatorPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.script.mustache.MustachePlugin;
import org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Runs one OpenSearch node in this JVM, built from the artifacts on Maven Central instead
 * of a distribution tarball (which this project's machines cannot download).
 *
 * <p>A distribution finds its modules by scanning {@code modules/}; here they are on the
 * class path and handed to {@link Node} as "classpath plugins", the mechanism OpenSearch's
 * own test framework uses. The distribution's {@code Bootstrap} (security manager, JNA
 * natives, production bootstrap checks) is not used: this node is for loopback-only
 * development and tests.
 *
 * <p>Arguments are {@code -Ekey=value} settings, as for the {@code opensearch} command;
 * {@code path.home} is required. The system property {@code pipectl.node.portfile}, when
 * set, names a file that receives the bound HTTP port once the node has started, so a
 * caller that asked for {@code http.port=0} learns which port it got.
 */
public final class LocalNode {

    /** The modules of a distribution that pipectl and its users may rely on. */
    private static final List<Class<? extends Plugin>> PLUGINS = List.of(
            Netty4Plugin.class, // HTTP and transport: without it there is no REST API
            CommonAnalysisPlugin.class,
            MapperExtrasPlugin.class,
            ReindexPlugin.class,
            IngestCommonPlugin.class,
            PainlessPlugin.class,
            MatrixAggregationPlugin.class,
            ParentJoinPlugin.class,
            PercolatorPlugin.class,
            MustachePlugin.class);

    private static final String DEFAULT_REPLICAS = "cluster.default_number_of_replicas";

    private LocalNode() {}

    /** Exposes Node's protected constructor, the only one that accepts classpath plugins. */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) {
        Thread.setDefaultUncaughtExceptionHandler(LocalNode::onUncaught);
        try {
            run(parseSettings(args));
        } catch (Exception e) {
            System.err.println("local OpenSearch node failed to start: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static void run(Map<String, String> overrides) throws Exception {
        if (!overrides.containsKey("path.home")) {
            throw new IllegalArgumentException("missing -Epath.home=DIR");
        }
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
                defaults(), overrides, Paths.get(overrides.get("path.home"), "config"), () -> "pipectl-local");

        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment);
        Logger logger = LogManager.getLogger(LocalNode.class);

        Node node = new EmbeddedNode(environment, PLUGINS);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> close(node, logger, closed), "pipectl-node-shutdown"));
        node.start();
        defaultToNoReplicas(node.client(), logger);

        int port = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        String portFile = System.getProperty("pipectl.node.portfile");
        if (portFile != null) {
            writeAtomically(Paths.get(portFile), port + "\n");
        }
        logger.info("pipectl local node ready on http://127.0.0.1:{}", port);
        closed.await();
    }

    /**
     * Settings that make an embedded single node work on a shared development machine;
     * every one can be overridden with -E.
     */
    private static Settings defaults() {
        return Settings.builder()
                .put("cluster.name", "pipectl-local")
                .put("node.name", "pipectl-local")
                .put("discovery.type", "single-node")
                // Loopback only: nothing outside this machine may reach the node.
                .put("network.host", "127.0.0.1")
                .put("http.host", "127.0.0.1")
                .put("transport.host", "127.0.0.1")
                .put("bootstrap.memory_lock", false)
                // Shared test machines fill their disks; a node that turns indices read-only
                // at 95% would fail tests for a reason unrelated to the code under test.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .put("action.auto_create_index", true)
                .build();
    }

    /**
     * One node can never hold a replica, so an index created without an explicit replica
     * count would keep the cluster yellow forever. The default replica count is read from
     * the cluster's metadata, not from node settings, so it is set as a persistent cluster
     * setting, once: a value someone set through the API is left alone. It waits for
     * yellow health first: until the cluster state is recovered from disk the persistent
     * settings read as empty, and a value set earlier would be overwritten.
     */
    private static void defaultToNoReplicas(Client client, Logger logger) {
        ClusterHealthResponse health = client.admin().cluster().prepareHealth()
                .setWaitForYellowStatus().setTimeout(TimeValue.timeValueSeconds(60)).get();
        if (health.isTimedOut()) {
            logger.warn("cluster is not yellow after 60s ({}); [{}] left unchanged", health.getStatus(), DEFAULT_REPLICAS);
            return;
        }
        Settings persistent = client.admin().cluster().prepareState().clear().setMetadata(true).get()
                .getState().metadata().persistentSettings();
        if (persistent.get(DEFAULT_REPLICAS) == null) {
            client.admin().cluster().prepareUpdateSettings()
                    .setPersistentSettings(Settings.builder().put(DEFAULT_REPLICAS, 0)).get();
            logger.info("set [{}] to 0 for this single-node cluster", DEFAULT_REPLICAS);
        }
    }

    private static Map<String, String> parseSettings(String[] args) {
        Map<String, String> settings = new LinkedHashMap<>();
        for (String arg : args) {
            String setting = arg.startsWith("-E") ? arg.substring(2) : arg;
            int eq = setting.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected -Ekey=value, got: " + arg);
            }
            settings.put(setting.substring(0, eq), setting.substring(eq + 1));
        }
        return settings;
    }

    /** Stops the node on SIGTERM/SIGINT so Lucene commits and the data dir lock is released. */
    private static void close(Node node, Logger logger, CountDownLatch closed) {
        try {
            logger.info("stopping pipectl local node");
            node.close();
            if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                logger.warn("node did not finish closing within 30s");
            }
            logger.info("pipectl local node stopped");
        } catch (IOException | InterruptedException | RuntimeException e) {
            logger.error("failed to stop the node cleanly", e);
        } finally {
            closed.countDown();
            LogManager.shutdown();
        }
    }

    private static void writeAtomically(Path target, String content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * A node whose thread died of an Error (out of memory, stack overflow) is in an unknown
     * state; stop the JVM so the caller sees a dead node instead of a half-working one.
     */
    private static void onUncaught(Thread thread, Throwable failure) {
        System.err.println("uncaught exception in thread " + thread.getName() + ": " + failure);
        failure.printStackTrace();
        if (failure instanceof Error) {
            Runtime.getRuntime().halt(1);
        }
    }
}
