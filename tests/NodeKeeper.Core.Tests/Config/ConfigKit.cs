using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

/// <summary>Loads config text as if it were /srv/shop/nodekeeper.toml, with a fake file system for env files.</summary>
internal static class ConfigKit
{
    public const string Dir = "/srv/shop";
    public const string LogDir = "/var/lib/nodekeeper/logs";
    public const long MiB = 1024 * 1024;

    /// <summary>The example of SPEC.md's "Configuration: nodekeeper.toml", verbatim.</summary>
    public const string SpecExample = """
[daemon]                   # optional
http = "127.0.0.1:9615"    # serve /metrics (Prometheus text format), /healthz, /readyz; off when absent

[defaults]                 # optional; any app key, applied to every app that does not set it
kill_timeout = "5s"

[[app]]
name = "api"               # required; [A-Za-z0-9._-]{1,64}, unique
script = "server.js"       # required; run as: node <node_args> <script> <args>
cwd = "."                  # working directory
args = ["--verbose"]
node_args = ["--enable-source-maps"]
interpreter = "node"       # path or name of the node binary
max_old_space_size = "512M"   # becomes --max-old-space-size=512
env = { NODE_ENV = "production" }
env_file = ".env"          # optional dotenv file; keys in `env` win
instances = 2              # a number, or "max" (one per CPU core)
port = 3000                # the port the app listens on (readiness, shared socket, nginx)
port_mode = "shared"       # "shared": the daemon owns the listening socket and every instance
                           #   accepts on it (connections queue while an instance restarts);
                           # "increment": instance i gets PORT = port + i
ready = "listen"           # when an instance counts as online: "listen" (accepts on its port),
                           #   "message" (process.send('ready'), as PM2's wait_ready),
                           #   "spawn" (as soon as it runs)
listen_timeout = "10s"     # not ready by then: it is killed and counts as a failed start
restart = "always"         # "always" | "on-failure" (not after stop_exit_codes) | "never"
stop_exit_codes = [0]      # exits with these codes are never restarted under "on-failure"
min_uptime = "2s"          # a run shorter than this is an unstable run
max_restarts = 10          # restarts after unstable runs in a row; the next unstable run leaves
                           #   the app "errored" (so at most max_restarts + 1 starts)
restart_delay = "100ms"    # first backoff delay; doubles on each unstable run...
max_restart_delay = "15s"  # ...up to this; a stable run resets it
kill_signal = "SIGTERM"    # sent to the whole process tree on stop
kill_timeout = "5s"        # then SIGKILL
max_memory = "800M"        # resident memory (whole process tree) above this: graceful restart
max_open_files = 65536     # RLIMIT_NOFILE for the app
health = { url = "http://127.0.0.1:3000/health", interval = "10s", timeout = "2s", failures = 3 }
watch = ["src"]            # restart on file changes (node_modules and .git are always ignored)
ignore_watch = ["*.log"]
user = "www-data"          # run the app as this user (daemon running as root only)
log = { out = "logs/api.out.log", err = "logs/api.err.log", max_size = "10M", keep = 5, timestamps = true }
""";

    /// <summary>The .env file the SPEC example names.</summary>
    public const string SpecEnvFile = """
        # shared secrets
        export DB_URL="postgres://db:5432/shop"
        SESSION_SECRET='s3cr3t $HOME'
        NODE_ENV=development
        """;

    public static ConfigResult Load(string toml, IReadOnlyDictionary<string, string>? files = null, int cpus = 8) =>
        ConfigLoader.Load(toml, "nodekeeper.toml", Dir, new LoadContext(LogDir, cpus,
            path => files is not null && files.TryGetValue(path, out var text) ? text : null));

    /// <summary>The single app of a config that must load without errors.</summary>
    public static AppSpec LoadApp(string toml, IReadOnlyDictionary<string, string>? files = null, int cpus = 8)
    {
        var result = Load(toml, files, cpus);
        result.Errors.Should().BeEmpty();
        result.Ok.Should().BeTrue();
        return result.Config!.Apps.Should().ContainSingle().Subject;
    }

    /// <summary>The errors of a config that must fail, as "file:line:col: message" lines.</summary>
    public static string[] Errors(string toml, IReadOnlyDictionary<string, string>? files = null)
    {
        var result = Load(toml, files);
        result.Config.Should().BeNull();
        result.Ok.Should().BeFalse();
        return result.Errors.Select(e => e.ToString()).ToArray();
    }

    /// <summary>An [[app]] named "api" running server.js; <paramref name="body"/> starts on line 4.</summary>
    public static string App(string body = "") => "[[app]]\nname = \"api\"\nscript = \"server.js\"\n" + body;
}
