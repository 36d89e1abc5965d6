using NodeKeeper.Core.Protocol;
using System.CommandLine;
using NodeKeeper.Daemon;

namespace NodeKeeper.Cli;

/// <summary>
/// `nk run [CONFIG]`: container mode, as pm2-runtime. The daemon and its apps in the foreground: app log lines also on
/// stdout/stderr prefixed with the app's name; PID 1 works (the daemon reaps orphans and stops everything on SIGTERM);
/// exits when every app is down (1 if one of them errored); `nk status` still answers on the control socket.
/// </summary>
public static class RunCommand
{
    public static Command Build()
    {
        var config = new Argument<string?>("config") { Arity = ArgumentArity.ZeroOrOne, Description = "the config file (default ./nodekeeper.toml)" };
        var cmd = new Command("run", "container mode: the daemon and the config's apps in the foreground, logs on stdout/stderr") { config };
        cmd.SetAction(async (p, ct) =>
        {
            var loaded = NkCommands.LoadConfig(p.GetValue(config) ?? "nodekeeper.toml");
            if (loaded is null) return NkCommands.Usage;
            return await DaemonHost.RunAsync(Home.Current, background: false, new DaemonHost.RunOptions(loaded.Apps, loaded.Path, loaded.Daemon));
        });
        return cmd;
    }
}
