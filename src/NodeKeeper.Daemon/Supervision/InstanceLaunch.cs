using NodeKeeper.Core.Config;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>How an app's instance is started: the argv (through setsid, prlimit, setpriv) and its environment.</summary>
public static class InstanceLaunch
{
    /// <summary>The argv: setsid [prlimit] [setpriv] interpreter node_args [--max-old-space-size] --require preload script args.</summary>
    public static (string File, List<string> Args) CommandLine(AppSpec spec, string preloadPath)
    {
        // setsid execs in place (the pid stays node's) and gives the app its own process group to signal.
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
        args.Add(spec.Interpreter);
        args.AddRange(spec.NodeArgs);
        if (spec.MaxOldSpaceSizeMb is { } mb) args.Add($"--max-old-space-size={mb}");
        args.Add("--require");
        args.Add(preloadPath);
        args.Add(spec.Script);
        args.AddRange(spec.Args);
        return ("setsid", args);
    }

    /// <summary>The instance's environment on top of the daemon's: env file, env, then NodeKeeper's own variables.</summary>
    public static Dictionary<string, string> Environment(AppSpec spec, int instance, string home)
    {
        var env = new Dictionary<string, string>(spec.MergedEnv())
        {
            ["NODE_APP_INSTANCE"] = instance.ToString(),
            ["NK_APP"] = spec.Name,
            ["NK_INSTANCE"] = instance.ToString(),
            ["NODEKEEPER_HOME"] = home,
            // The preload acts in this process only, not in the node processes it forks (it removes the mark).
            ["NK_PRELOAD_ROLE"] = "instance",
        };
        if (Port(spec, instance) is { } port) env["PORT"] = port.ToString();
        if (spec.User is { } user)
        {
            // setpriv changes the ids but leaves HOME/USER/LOGNAME as the daemon's.
            env["USER"] = user;
            env["LOGNAME"] = user;
            if (Passwd(user) is { } pw) env["HOME"] = pw.Home;
        }
        return env;
    }

    /// <summary>The port an instance listens on: the app's, or port + i in increment mode.</summary>
    public static int? Port(AppSpec spec, int instance) =>
        spec.Port is { } p ? (spec.PortMode == PortMode.Increment ? p + instance : p) : null;

    /// <summary>The user's primary group id and home from /etc/passwd (by name, or by uid when numeric).</summary>
    private static (string Gid, string Home)? Passwd(string user)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var f = line.Split(':');
                if (f.Length >= 6 && (f[0] == user || f[2] == user)) return (f[3], f[5]);
            }
        }
        catch (IOException) { }
        return null;
    }
}
