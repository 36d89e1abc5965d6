using System.CommandLine;
using System.CommandLine.Help;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>The `nk` command line: parses it, talks to the daemon, renders the answer.</summary>
public static partial class NkCommands
{
    public const int Ok = 0, Failed = 1, Usage = 2;
    private static readonly string CliVersion = BuildVersion.Of(typeof(NkCommands).Assembly);

    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build();
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) await Console.Error.WriteLineAsync($"nk: {e.Message} (see nk --help)");
            return Usage;
        }
        // The daemon handles SIGTERM itself (it stops every app, which may take kill_timeout); System.CommandLine
        // would otherwise end the process 2 s after SIGTERM with exit code 143.
        // An exception is reported below as one line, not as System.CommandLine's stack trace.
        var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (parsed.CommandResult.Command.Name is "daemon" or "run") invocation.ProcessTerminationTimeout = null;
        try { return await parsed.InvokeAsync(invocation); }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"nk: lost the daemon: {ex.Message}; see {NkHome.DaemonLog(Home.Current)}");
            return Failed;
        }
        catch (OperationCanceledException)
        {
            return 130; // Ctrl-C: the shell's code for SIGINT
        }
    }

    private static Command Build()
    {
        // Named "nk", not after the executable as RootCommand would be: this runs as nk-full, exec'd by nk, and help
        // should name the command people type. --help and --version are what RootCommand would add.
        var root = new Command("nk", "NodeKeeper: keeps Node.js apps alive (nk daemon + nk CLI).") { new HelpOption(), new VersionOption() };
        var names = () => new Argument<string[]>("names") { Arity = ArgumentArity.ZeroOrMore, Description = "app names, or all" };
        var json = () => new Option<bool>("--json") { Description = "print JSON for scripts" };
        var noWait = () => new Option<bool>("--no-wait") { Description = "return at once instead of waiting until the apps are ready" };

        // start
        {
            var targets = new Argument<string[]>("targets") { Arity = ArgumentArity.ZeroOrMore, Description = "a config file (default ./nodekeeper.toml), or app names" };
            var prune = new Option<bool>("--prune") { Description = "delete apps that are no longer in the config" };
            var env = new Option<string?>("--env") { Description = "merge each app's env_NAME over its env (as pm2 start --env NAME)", HelpName = "NAME" };
            var nw = noWait();
            var cmd = new Command("start", "load a config and start its apps, or start stopped apps by name") { targets, prune, env, nw };
            cmd.SetAction((p, ct) => StartAsync(p.GetValue(targets) ?? [], p.GetValue(prune), p.GetValue(env), p.GetValue(nw), ct));
            root.Subcommands.Add(cmd);
        }
        foreach (var (verb, help) in new[] { ("stop", "stop apps gracefully and keep them listed"), ("restart", "stop then start every instance"), ("delete", "stop apps and forget them") })
        {
            var n = names();
            var nw = noWait();
            var cmd = new Command(verb, help) { n };
            if (verb == "restart") cmd.Options.Add(nw);
            cmd.SetAction((p, ct) => ActAsync(verb, p.GetValue(n) ?? [], verb == "restart" && !p.GetValue(nw), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var n = names();
            var nw = noWait();
            var canary = new Option<string>("--canary")
            {
                Description = "run the first new instance beside the old ones this long (e.g. 30s) and back out if it does worse; 0: none (default: the app's reload.canary)",
            };
            var cmd = new Command("reload", "zero-downtime: replace instances one at a time, each once its replacement is ready") { n, nw, canary };
            cmd.SetAction((p, ct) => ReloadAsync(p.GetValue(n) ?? [], !p.GetValue(nw), p.GetValue(canary), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var n = names();
            var nw = noWait();
            var cmd = new Command("rollback", "go back to each app's definition before its last reload, one instance at a time") { n, nw };
            cmd.SetAction((p, ct) => RollbackAsync(p.GetValue(n) ?? [], !p.GetValue(nw), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var name = new Argument<string>("name") { Description = "the app" };
            var count = new Argument<int>("instances") { Description = "how many instances" };
            var nw = noWait();
            var cmd = new Command("scale", "change the number of instances") { name, count, nw };
            cmd.SetAction((p, ct) => ScaleAsync(p.GetValue(name)!, p.GetValue(count), !p.GetValue(nw), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var signal = new Argument<string>("signal") { Description = "a signal name: SIGUSR2, SIGINT, HUP, ..." };
            var n = names();
            var instance = new Option<int?>("--instance", "-i") { Description = "only this instance (default: every instance)" };
            var cmd = new Command("signal", "send a signal to the apps' processes (as pm2 sendSignal); what follows is the app's doing") { signal, n, instance };
            cmd.SetAction((p, ct) => OperateAsync(new Request { Cmd = Commands.Signal, Signal = p.GetValue(signal), Names = p.GetValue(n) ?? [], Instance = p.GetValue(instance) },
                needsNames: true, showStatus: false, ct));
            root.Subcommands.Add(cmd);
        }
        {
            var n = names();
            var cmd = new Command("flush", "empty the apps' log files (all apps when none is named; rotated files stay)") { n };
            cmd.SetAction((p, ct) => OperateAsync(new Request { Cmd = Commands.Flush, Names = p.GetValue(n) is { Length: > 0 } given ? given : ["all"] },
                needsNames: false, showStatus: false, ct));
            root.Subcommands.Add(cmd);
        }
        {
            var cmd = new Command("reopen-logs", "reopen every app's log files, after logrotate moved them (as SIGHUP to the daemon, or pm2 reloadLogs)");
            cmd.SetAction((p, ct) => OperateAsync(new Request { Cmd = Commands.ReopenLogs }, needsNames: false, showStatus: false, ct));
            root.Subcommands.Add(cmd);
        }
        {
            var n = names();
            var cmd = new Command("reset", "set the apps' restart counts back to 0 (as pm2 reset)") { n };
            cmd.SetAction((p, ct) => OperateAsync(new Request { Cmd = Commands.Reset, Names = p.GetValue(n) ?? [] }, needsNames: true, showStatus: true, ct));
            root.Subcommands.Add(cmd);
        }
        {
            var n = names();
            var j = json();
            var cmd = new Command("status", "show every instance") { n, j };
            cmd.Aliases.Add("ls");
            cmd.SetAction((p, ct) => StatusAsync(p.GetValue(n) ?? [], p.GetValue(j), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var n = names();
            var cmd = new Command("monit", "a live view of every instance, refreshed every second (q or Ctrl-C quits)") { n };
            cmd.SetAction((p, ct) => MonitAsync(p.GetValue(n) ?? [], ct));
            root.Subcommands.Add(cmd);
        }
        {
            var name = new Argument<string>("name") { Description = "the app" };
            var j = json();
            var showEnv = new Option<bool>("--show-env") { Description = "print environment values (hidden by default)" };
            var cmd = new Command("describe", "everything about one app and its last exits") { name, j, showEnv };
            cmd.SetAction((p, ct) => DescribeAsync(p.GetValue(name)!, p.GetValue(j), p.GetValue(showEnv), ct));
            root.Subcommands.Add(cmd);
        }
        AddCaptureCommands(root, json);
        {
            var n = names();
            var j = json();
            var cmd = new Command("why", "why an app stopped, crashed or restarted, what shows it, and what to change") { n, j };
            cmd.SetAction((p, ct) => WhyAsync(p.GetValue(n) ?? [], p.GetValue(j), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var name = new Argument<string?>("name") { Arity = ArgumentArity.ZeroOrOne, Description = "the app (default: all)" };
            var lines = new Option<int>("--lines", "-n") { Description = "how many lines of each file", DefaultValueFactory = _ => 15 };
            var follow = new Option<bool>("--follow", "-f") { Description = "keep printing new lines" };
            var outOnly = new Option<bool>("--out") { Description = "stdout log only" };
            var errOnly = new Option<bool>("--err") { Description = "stderr log only" };
            var cmd = new Command("logs", "tail the app's log files") { name, lines, follow, outOnly, errOnly };
            cmd.SetAction((p, ct) => LogsAsync(p.GetValue(name), p.GetValue(lines), p.GetValue(follow), p.GetValue(outOnly), p.GetValue(errOnly), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var cmd = new Command("ping", "is a daemon alive? (exit 1 if none; never starts one)");
            cmd.SetAction((p, ct) => PingAsync(ct));
            root.Subcommands.Add(cmd);
        }
        {
            var cmd = new Command("kill", "stop every app and the daemon");
            cmd.SetAction((p, ct) => KillAsync(ct));
            root.Subcommands.Add(cmd);
        }
        {
            var cmd = new Command("version", "versions of the CLI and of the daemon if one answers");
            cmd.SetAction((p, ct) => VersionAsync(ct));
            root.Subcommands.Add(cmd);
        }
        {
            var path = new Option<string?>("--path") { Description = "the nk-full to run (default: the one the daemon was started from)" };
            var cmd = new Command("update", "replace the daemon with the nk-full on disk; every app keeps running (same pids, logs, ports)") { path };
            cmd.SetAction((p, ct) => UpdateAsync(p.GetValue(path), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var record = new Argument<string>("record");
            var cmd = new Command("handover-check", "(internal) say this binary's version and whether it reads a hand-over record") { record };
            cmd.Hidden = true;
            cmd.SetAction((p, ct) => Task.FromResult(HandoverCheck(p.GetValue(record)!)));
            root.Subcommands.Add(cmd);
        }
        {
            var background = new Option<bool>("--background") { Description = "detach from the terminal (how nk starts it)", Hidden = true };
            var adopt = new Option<string?>("--adopt") { Description = "take over the apps of the image this one replaced (nk update)", Hidden = true };
            var cmd = new Command("daemon", "run the supervisor in the foreground") { background, adopt };
            cmd.SetAction((p, ct) => NodeKeeper.Daemon.DaemonHost.RunAsync(Home.Current, p.GetValue(background), adopt: p.GetValue(adopt)));
            root.Subcommands.Add(cmd);
        }
        root.Subcommands.Add(RunCommand.Build());
        root.Subcommands.Add(SaveCommands.Save());
        root.Subcommands.Add(SaveCommands.Resurrect());
        root.Subcommands.Add(NginxCommand.Build());
        root.Subcommands.Add(StartupCommand.Build());
        root.Subcommands.Add(ImportCommand.Build());
        return root;
    }

    private static Task<int> Error(string message, int code)
    {
        Console.Error.WriteLine($"nk: {message}");
        return Task.FromResult(code);
    }

    internal static async Task<(ControlClient? Client, int Code)> ConnectAsync(CancellationToken ct)
    {
        var (client, error) = await DaemonStarter.ConnectOrStartAsync(Home.Current, ct);
        if (client is null) await Console.Error.WriteLineAsync($"nk: {error}");
        return (client, client is null ? Failed : Ok);
    }

    /// <summary>Sends one request; prints the error and returns null when the daemon refuses it.</summary>
    internal static async Task<Response?> SendAsync(ControlClient client, Request request, CancellationToken ct)
    {
        var r = await client.SendAsync(request, ct);
        await Differences(r);
        if (!r.Ok) await Console.Error.WriteLineAsync($"nk: {await Unknown(client, request, r, ct) ?? r.Error}");
        return r.Ok ? r : null;
    }

    private static int _versionSaid;

    /// <summary>
    /// Says (on stderr, once per command) when the daemon that answered runs another version than this nk, and which
    /// fields of the request it did not know (a daemon older than this nk ignores them).
    /// </summary>
    internal static async Task Differences(Response r)
    {
        if (r.Version is { } daemon && daemon != CliVersion && Interlocked.Exchange(ref _versionSaid, 1) == 0)
            await Console.Error.WriteLineAsync($"nk: the daemon runs {daemon} and this nk is {CliVersion}: run `nk update` to replace the daemon with the nk-full beside this nk (the apps keep running)");
        if (r.IgnoredFields is { Count: > 0 } ignored)
            await Console.Error.WriteLineAsync($"nk: the daemon ({r.Version ?? "an older version"}) does not know {string.Join(", ", ignored)} and ignored {(ignored.Count == 1 ? "it" : "them")}: it is older than this nk ({CliVersion})");
    }

    /// <summary>
    /// An older daemon's answer to a command it does not know, said as what it is: the daemon's version against this
    /// nk's, and what to do. Null for any other error.
    /// </summary>
    internal static async Task<string?> Unknown(ControlClient client, Request request, Response r, CancellationToken ct)
    {
        if (r.Error?.StartsWith("unknown command", StringComparison.Ordinal) != true) return null;
        string daemon;
        try { daemon = (await client.SendAsync(new Request { Cmd = Commands.Version }, ct)).Version ?? "?"; }
        catch (IOException) { daemon = "?"; }
        return $"the daemon (version {daemon}) does not know `{request.Cmd}`: it is older than this nk ({CliVersion})"
            + (request.Cmd == Commands.Update
                ? "; a daemon that predates nk update can only be replaced by restarting it: nk save && nk kill && nk resurrect (every app restarts)"
                : "; run nk update to replace it with the nk-full beside this nk (the apps keep running)");
    }

}
