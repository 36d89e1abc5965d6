using System.CommandLine;
using System.CommandLine.Help;
using System.Text.Json;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Files;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Rendering;
using NodeKeeper.Daemon.Control;

namespace NodeKeeper.Cli;

/// <summary>The `nk` command line: parses it, talks to the daemon, renders the answer.</summary>
public static class NkCommands
{
    public const int Ok = 0, Failed = 1, Usage = 2;
    private static readonly string CliVersion = typeof(NkCommands).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

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
            await Console.Error.WriteLineAsync($"nk: lost the daemon: {ex.Message}; see {NkHome.DaemonLog(NkHome.Path())}");
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
            var nw = noWait();
            var cmd = new Command("start", "load a config and start its apps, or start stopped apps by name") { targets, prune, nw };
            cmd.SetAction((p, ct) => StartAsync(p.GetValue(targets) ?? [], p.GetValue(prune), p.GetValue(nw), ct));
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
            var cmd = new Command("reload", "zero-downtime: replace instances one at a time, each once its replacement is ready") { n, nw };
            cmd.SetAction((p, ct) => ReloadAsync(p.GetValue(n) ?? [], !p.GetValue(nw), ct));
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
            var background = new Option<bool>("--background") { Description = "detach from the terminal (how nk starts it)", Hidden = true };
            var cmd = new Command("daemon", "run the supervisor in the foreground") { background };
            cmd.SetAction((p, ct) => NodeKeeper.Daemon.DaemonHost.RunAsync(NkHome.Path(), p.GetValue(background)));
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
        var (client, error) = await DaemonStarter.ConnectOrStartAsync(NkHome.Path(), ct);
        if (client is null) await Console.Error.WriteLineAsync($"nk: {error}");
        return (client, client is null ? Failed : Ok);
    }

    /// <summary>Sends one request; prints the error and returns null when the daemon refuses it.</summary>
    internal static async Task<Response?> SendAsync(ControlClient client, Request request, CancellationToken ct)
    {
        var r = await client.SendAsync(request, ct);
        if (!r.Ok) await Console.Error.WriteLineAsync($"nk: {r.Error}");
        return r.Ok ? r : null;
    }

    private static bool IsConfigArgument(string a) => File.Exists(a) || a.EndsWith(".toml", StringComparison.OrdinalIgnoreCase);

    private static async Task<int> StartAsync(string[] targets, bool prune, bool noWait, CancellationToken ct)
    {
        var configs = targets.Where(IsConfigArgument).ToList();
        if (configs.Count > 1 || (configs.Count == 1 && targets.Length > 1))
            return await Error("start takes one config file, or app names, not both", Usage);

        Request request;
        if (targets.Length == 0 || configs.Count == 1)
        {
            var path = configs.Count == 1 ? configs[0] : "nodekeeper.toml";
            var loaded = LoadConfig(path);
            if (loaded is null) return Usage;
            request = new Request { Cmd = Commands.Start, Apps = loaded.Apps, ConfigPath = loaded.Path, Prune = prune, Daemon = loaded.Daemon };
        }
        else request = new Request { Cmd = Commands.Start, Names = targets };

        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, request.Waiting(!noWait), ct);
        if (r is null) return Failed;
        if (r.Message is { } message) await Console.Error.WriteLineAsync($"nk: {message}");
        return await ShowAsync(client, r, ct);
    }

    /// <summary>Reads and validates a config; prints every error as file:line:col and returns null when there is one.</summary>
    internal static NodeKeeperConfig? LoadConfig(string path)
    {
        var (bytes, error, size) = ReadSmallRegularFile(path, MaxConfigBytes);
        if (size > MaxConfigBytes)
        {
            // Refused before it is read: parsing and checking an 8 MB config of 2 million array items cost 9.5 s and
            // 1.25 GB, only for the daemon to refuse the request line it made.
            Console.Error.WriteLine($"{path}: config is {size} bytes; the limit is {MaxConfigBytes} (the largest request the daemon accepts)");
            return null;
        }
        if (bytes is null)
        {
            Console.Error.WriteLine($"nk: {path}: cannot read the config: {error}");
            return null;
        }
        var full = Path.GetFullPath(path);
        var ctx = new LoadContext(NkHome.Logs(NkHome.Path()), Environment.ProcessorCount, ReadEnvFile);
        var result = ConfigLoader.LoadUtf8(bytes, path, Path.GetDirectoryName(full)!, ctx);
        if (!result.Ok)
        {
            foreach (var line in result.ErrorLines()) Console.Error.WriteLine(line);
            return null;
        }
        return result.Config! with { Path = full };
    }

    /// <summary>An env_file's text, found without following a link another user could have planted (SafeFiles); the
    /// IOException says why it cannot be read, and the loader says so at its line.</summary>
    private static string ReadEnvFile(string p) => SafeFiles.ReadAllText(p, DotEnv.MaxFileBytes);

    /// <summary>
    /// A config's apps go to the daemon in one request line, which it refuses past 1 MiB; a config file larger than
    /// that could only fit if it were mostly comments. nk run keeps the same limit, so a config that runs in a
    /// container also starts with nk start.
    /// </summary>
    private const long MaxConfigBytes = ControlServer.MaxLine;

    /// <summary>
    /// Reads a config or env file, which must be a regular file of at most <paramref name="maxBytes"/>: a FIFO,
    /// /dev/stdin or /dev/zero would block nk or exhaust its memory. A larger file is not read; Size is the size of
    /// the file opened (0 when none was). The error is in plain words (nk is built without .NET's message resources).
    /// </summary>
    internal static (byte[]? Bytes, string? Error, long Size) ReadSmallRegularFile(string path, long maxBytes)
    {
        if (Directory.Exists(path)) return (null, "it is a folder, not a file", 0);
        if (!File.Exists(path)) return (null, "no such file", 0);
        if (!NodeKeeper.Daemon.Processes.Native.IsRegularFile(path)) return (null, "not a regular file (a pipe, socket or device)", 0);
        try
        {
            using var file = File.OpenRead(path);
            // The size of the file opened: through a symbolic link, FileInfo.Length is the link's own.
            long size = file.Length;
            if (size > maxBytes) return (null, $"it is {size} bytes; the limit is {maxBytes}", size);
            var bytes = new byte[size];
            file.ReadExactly(bytes);
            return (bytes, null, size);
        }
        catch (UnauthorizedAccessException) { return (null, "permission denied", 0); }
        catch (IOException) { return (null, "it cannot be read", 0); }
    }

    /// <summary>
    /// The end of a command that (re)starts instances: the instances that did not become ready (exit 1), or the status
    /// table, from the answer of a request sent with Waiter.Waiting (asked for only when it was sent without).
    /// </summary>
    internal static async Task<int> ShowAsync(ControlClient client, Response r, CancellationToken ct)
    {
        if (r.Failures is { Count: > 0 } failures)
        {
            await Waiter.ReportAsync(failures);
            return Failed;
        }
        var rows = r.Instances ?? (await client.SendAsync(new Request { Cmd = Commands.Status }, ct)).Instances ?? [];
        Console.Out.Write(Render.StatusTable(rows));
        return Ok;
    }

    private static async Task<int> ActAsync(string verb, string[] names, bool wait, CancellationToken ct)
    {
        if (names.Length == 0) return await Error($"{verb} needs app names or all (e.g. nk {verb} all)", Usage);
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = verb, Names = names }.Waiting(wait), ct);
        if (r is null) return Failed;
        if (verb == Commands.Restart) return await ShowAsync(client, r, ct);
        if (r.Message is not null) await Console.Error.WriteLineAsync($"nk: {r.Message}");
        var status = await client.SendAsync(new Request { Cmd = Commands.Status }, ct);
        Console.Out.Write(Render.StatusTable(status.Instances ?? []));
        return Ok;
    }

    private static async Task<int> ReloadAsync(string[] names, bool wait, CancellationToken ct)
    {
        if (names.Length == 0) return await Error("reload needs app names or all (e.g. nk reload all)", Usage);
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        // Reload re-reads each app's definition from the config file it came from (each file once); an app with no
        // instance keeps the one it has.
        var described = await SendAsync(client, new Request { Cmd = Commands.Describe, Names = names }, ct);
        if (described is null) return Failed;
        var specs = new List<AppSpec>();
        foreach (var file in (described.Apps ?? []).Where(a => a.InstanceList.Count > 0 && a.ConfigPath is { } p && File.Exists(p)).GroupBy(a => a.ConfigPath!))
        {
            var loaded = LoadConfig(file.Key);
            if (loaded is null) return Usage;
            specs.AddRange(loaded.Apps.Where(a => file.Any(d => d.Name == a.Name)));
        }
        var r = await SendAsync(client, new Request { Cmd = Commands.Reload, Names = names, Apps = specs }.Waiting(wait), ct);
        if (r is null) return Failed;
        return await ShowAsync(client, r, ct);
    }

    private static async Task<int> ScaleAsync(string name, int count, bool wait, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Scale, Names = [name], Count = count }.Waiting(wait), ct);
        if (r is null) return Failed;
        return await ShowAsync(client, r, ct);
    }

    private static async Task<int> StatusAsync(string[] names, bool asJson, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Status, Names = names }, ct);
        if (r is null) return Failed;
        var rows = r.Instances?.ToList() ?? [];
        Console.Out.Write(asJson ? JsonSerializer.Serialize(rows, ProtocolJson.Default.ListInstanceInfo) + "\n" : Render.StatusTable(rows));
        return Ok;
    }

    private static async Task<int> MonitAsync(string[] names, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        return await Monit.RunAsync(client, names, ct);
    }

    private static async Task<int> WhyAsync(string[] names, bool asJson, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Why, Names = names }, ct);
        if (r is null) return Failed;
        var reports = r.Why?.ToList() ?? [];
        Console.Out.Write(asJson ? JsonSerializer.Serialize(reports, ProtocolJson.Default.ListWhyReport) + "\n" : Render.Why(reports));
        return Ok;
    }

    private static async Task<int> DescribeAsync(string name, bool asJson, bool showEnv, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Describe, Names = [name], ShowEnv = showEnv }, ct);
        if (r is null) return Failed;
        if (r.App is not { } app) return await Error("describe takes exactly one app name", Failed);
        Console.Out.Write(asJson ? JsonSerializer.Serialize(app, ProtocolJson.Default.AppDescription) + "\n" : Render.Describe(app));
        return Ok;
    }

    private static async Task<int> LogsAsync(string? name, int lines, bool follow, bool outOnly, bool errOnly, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        var files = new List<(string Label, string Path)>();
        using (client)
        {
            var described = await SendAsync(client, new Request { Cmd = Commands.Describe, Names = name is null ? null : [name] }, ct);
            if (described is null) return Failed;
            foreach (var a in (described.Apps ?? []).Where(a => a.InstanceList.Count > 0))
            {
                var label = name is null ? $"{a.Name} | " : "";
                if (!errOnly && a.OutLog is { } o) files.Add((label, o));
                if (!outOnly && a.ErrLog is { } e) files.Add((label, e));
            }
        }
        foreach (var (label, path) in files)
        {
            if (files.Count > 1) await Console.Error.WriteLineAsync($"==> {path} <==");
            foreach (var line in LogTail.LastLines(path, lines)) await Console.Out.WriteLineAsync(label + line);
        }
        await Console.Out.FlushAsync(ct);
        if (follow) await LogTail.FollowAsync(files, Console.Out, ct);
        return Ok;
    }

    private static async Task<int> PingAsync(CancellationToken ct)
    {
        var home = NkHome.Path();
        var (client, _, error) = ControlClient.TryConnect(NkHome.Socket(home));
        if (client is null) return await Error(error!, Failed);
        using var _c = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Ping }, ct);
        if (r is null) return Failed;
        Console.Out.WriteLine($"pong: daemon pid {r.Pid}, version {r.Version}, home {home}");
        return Ok;
    }

    private static async Task<int> KillAsync(CancellationToken ct)
    {
        var home = NkHome.Path();
        var (client, failure, error) = ControlClient.TryConnect(NkHome.Socket(home));
        if (client is null)
        {
            if (failure == ControlClient.Failure.Denied) return await Error(error!, Failed);
            return await EndDeadDaemonsAppsAsync(home, ct);
        }
        int pid;
        using (client)
        {
            var r = await SendAsync(client, new Request { Cmd = Commands.Kill }, ct);
            if (r is null) return Failed;
            pid = r.Pid ?? 0;
        }
        await Console.Error.WriteLineAsync($"nk: stopping every app and the daemon (pid {pid})...");
        // The daemon answers before it stops; wait until it is gone, so nothing it supervised still runs.
        while (pid > 1 && Directory.Exists($"/proc/{pid}") && !IsZombie(pid)) await Task.Delay(25, ct);
        await Console.Error.WriteLineAsync("nk: daemon stopped");
        return Ok;
    }

    /// <summary>
    /// `nk kill` when no daemon answers. A daemon that died without stopping (kill -9, a crash) left state.json behind
    /// and its apps running, unsupervised: they are ended as a daemon taking over would end them (by pid and start time,
    /// and by the marks in their environment), holding the home's lock so that no daemon starts meanwhile.
    /// </summary>
    private static async Task<int> EndDeadDaemonsAppsAsync(string home, CancellationToken ct)
    {
        var statePath = NkHome.State(home);
        if (!File.Exists(statePath))
        {
            await Console.Error.WriteLineAsync($"nk: no daemon runs for {home}: nothing to stop");
            return Ok;
        }
        // The pids come from a file: only from a home that is this user's alone, and a file that is no link.
        if (HomeGuard.Refusal(home) is { } refusal) return await Error(refusal, Failed);
        if (new FileInfo(statePath).LinkTarget is not null || !Uids.OwnedBySelf(statePath))
            return await Error($"{statePath} is a link or belongs to another user: not ending anything it names", Failed);
        FileStream lockFile;
        try { lockFile = new FileStream(NkHome.Lock(home), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            return await Error($"a daemon is starting for {home}: run nk kill again once it answers", Failed);
        }
        await using (lockFile)
        {
            var (state, readError) = Daemon.State.StateFile.Read(statePath);
            if (state is null) return await Error($"no daemon runs for {home}, and its {readError}", Failed);
            var log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
            var ended = await Daemon.State.Predecessor.EndRecordedAsync(state, TimeProvider.System, log, ct)
                + await Daemon.State.Predecessor.EndUnrecordedAsync(home, state.Apps, TimeProvider.System, log, ct);
            File.Delete(statePath);
            await Console.Error.WriteLineAsync(ended == 0
                ? $"nk: no daemon runs for {home}: nothing to stop"
                : $"nk: no daemon runs for {home}; the one that did (pid {state.DaemonPid}) died without stopping its apps: ended {ended} process(es) they left");
        }
        return Ok;
    }

    private static bool IsZombie(int pid)
    {
        try { var s = File.ReadAllText($"/proc/{pid}/stat"); return s[(s.LastIndexOf(')') + 2)..].StartsWith('Z'); }
        catch (IOException) { return true; }
    }

    private static async Task<int> VersionAsync(CancellationToken ct)
    {
        Console.Out.WriteLine($"nk {CliVersion}");
        var (client, _, _) = ControlClient.TryConnect(NkHome.Socket(NkHome.Path()));
        if (client is null) return Ok;
        using var _c = client;
        var r = await client.SendAsync(new Request { Cmd = Commands.Version }, ct);
        if (r.Ok) Console.Out.WriteLine($"daemon {r.Version} (pid {r.Pid})");
        return Ok;
    }
}
