using System.Globalization;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>How an app's instance is started: the argv (through prlimit, setpriv) and its environment.</summary>
public static class InstanceLaunch
{
    /// <summary>
    /// The program and its arguments: [prlimit] [setpriv] node node_args [--max-old-space-size] --require preload
    /// script args; another interpreter gets interpreter_args script args, and with interpreter = "none" the script is
    /// the program (null <paramref name="preloadPath"/>: not node). prlimit and setpriv exec the next one in place (the
    /// pid stays the app's); the launcher gives the process its own session and process group to signal.
    /// </summary>
    public static (string File, List<string> Args) CommandLine(AppSpec spec, string? preloadPath)
    {
        var args = new List<string>();
        if (spec.MaxOpenFiles is { } nofile)
            args.AddRange(["prlimit", $"--nofile={nofile}:{nofile}", "--"]);
        if (spec.User is { } user)
        {
            // The user's own primary group (Debian's nobody is in nogroup), by number: setpriv takes a group name
            // only when a group of the user's name exists.
            var gid = Passwd(user) is { } pw ? pw.Gid : user;
            args.AddRange(["setpriv", $"--reuid={user}", $"--regid={gid}", "--init-groups", "--"]);
        }
        switch (spec.Program)
        {
            case ProgramKind.Node:
                args.Add(spec.Interpreter);
                args.AddRange(spec.NodeArgs);
                if (spec.MaxOldSpaceSizeMb is { } mb) args.Add($"--max-old-space-size={mb}");
                args.Add("--require");
                args.Add(preloadPath ?? throw new ArgumentNullException(nameof(preloadPath), "a node app needs the preload"));
                break;
            case ProgramKind.Interpreter:
                args.Add(spec.Interpreter);
                args.AddRange(spec.InterpreterArgs);
                break;
        }
        args.Add(spec.Script);
        args.AddRange(spec.Args);
        return (args[0], args[1..]);
    }

    /// <summary>What a clean environment keeps of the daemon's: where programs are, the language and the time zone.</summary>
    private static readonly string[] Kept = ["PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

    /// <summary>The variables a clean environment keeps, any LC_* included.</summary>
    public static bool KeptInCleanEnvironment(string name) => Kept.Contains(name) || name.StartsWith("LC_", StringComparison.Ordinal);

    /// <summary>
    /// The instance's environment as changes to the daemon's: env file, env, then
    /// NodeKeeper's own variables (those for the preload only for node); a null value removes the daemon's variable. A
    /// `user` app, and one with clean_env, keeps only <see cref="KeptInCleanEnvironment"/> of the daemon's (root's tokens
    /// must not reach another uid).
    /// </summary>
    /// <param name="captureFolder">The app's folder of captures (the preload writes profiles and snapshots there, Node its
    /// reports); null: no captures for this run.</param>
    public static Dictionary<string, string?> Environment(AppSpec spec, int instance, string home, string? captureFolder = null)
    {
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (spec.CleanEnv || spec.User is not null)
        {
            // Read only here, on the spawn path of the apps that need it.
            foreach (var name in System.Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => !KeptInCleanEnvironment(n)))
                env[name] = null;
            // Who the app runs as, from the password file: its user, or the daemon's own.
            if (Passwd(spec.User ?? NodeKeeper.Core.Protocol.Uids.Effective().ToString()) is { } pw)
            {
                env["USER"] = env["LOGNAME"] = pw.Name;
                env["HOME"] = pw.Home;
            }
        }
        foreach (var (name, value) in spec.MergedEnv()) env[name] = value;
        env["NODE_APP_INSTANCE"] = instance.ToString();
        env["NK_APP"] = spec.Name;
        env["NK_INSTANCE"] = instance.ToString();
        env["NODEKEEPER_HOME"] = home;
        if (Port(spec, instance) is { } port) env["PORT"] = port.ToString();
        if (!spec.Node) return env;
        // The preload acts in this process only, not in the node processes it forks (it removes the mark).
        env["NK_PRELOAD_ROLE"] = "instance";
        if (!spec.HttpMetrics) env["NK_HTTP_METRICS"] = "off";
        // One variable, the folder last (a path may hold commas): "STALL_MS,CPU_MS,INTERVAL_MS,REPORTS,WATCHDOG,FOLDER".
        if (captureFolder is not null)
        {
            var c = spec.Capture;
            var watchdog = c.Watchdog == WatchdogStart.Always ? 'a' : 'l';
            env["NK_CAPTURE"] = $"{Ms(c.Stall)},{Ms(c.Cpu)},{Ms(c.Interval)},{(c.Reports ? 1 : 0)},{watchdog},{captureFolder}";
        }
        // The preload reports what moved at once, and otherwise this often: an idle app costs the daemon little.
        env["NK_REPORT_QUIET_MS"] = Ms(NodeKeeper.Core.Supervision.HealthRule.Quiet(spec.Health, ReportInterval(env)));
        return env;
    }

    private static string Ms(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    /// <summary>How often the preload reports: NK_METRICS_MS as preload.js reads it (1 s unless a positive number;
    /// Node runs an interval beyond 2³¹−1 ms every millisecond).</summary>
    public static TimeSpan ReportInterval(IReadOnlyDictionary<string, string?> env)
    {
        // The instance's own changes first (null: removed by a clean environment), else the daemon's variable.
        var text = env.TryGetValue("NK_METRICS_MS", out var v) ? v : System.Environment.GetEnvironmentVariable("NK_METRICS_MS");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) || !(ms > 0)) return TimeSpan.FromSeconds(1);
        return TimeSpan.FromMilliseconds(ms > int.MaxValue ? 1 : ms);
    }

    /// <summary>The port an instance listens on: the app's, or port + i in increment mode.</summary>
    public static int? Port(AppSpec spec, int instance) =>
        spec.Port is { } p ? (spec.PortMode == PortMode.Increment ? p + instance : p) : null;

    /// <summary>The user's name, primary group id and home from /etc/passwd (by name, or by uid when numeric).</summary>
    public static (string Name, string Gid, string Home)? Passwd(string user)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var f = line.Split(':');
                if (f.Length >= 6 && (f[0] == user || f[2] == user)) return (f[0], f[3], f[5]);
            }
        }
        catch (IOException) { }
        return null;
    }
}
