using System.CommandLine;
using System.ComponentModel;
using System.Text;
using System.Text.Json;
using CliWrap.Buffered;
using CommandResult = CliWrap.CommandResult;
using CommandResultValidation = CliWrap.CommandResultValidation;
using PipeTarget = CliWrap.PipeTarget;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Files;
using NodeKeeper.Core.Import;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Cli;

/// <summary>
/// `nk import ecosystem.config.js [--env NAME]`: evaluates a PM2 ecosystem file with node and prints the equivalent
/// nodekeeper.toml on stdout; every PM2 option that is not carried over is named on stderr, with why.
/// Exit codes: 0 printed; 1 node could not evaluate the file; 2 no such file, or it holds no importable app.
/// PM2 runs the file with the caller's powers; nk import runs it with as few as the node in use allows: under Node's
/// permission model (no child processes, workers, native addons or file writes) when it has one, always with a clean
/// environment, and it ends every process the file left behind before it answers.
/// </summary>
public static class ImportCommand
{
    private const int Ok = 0, Failed = 1, Usage = 2;
    private const string Marker = "--nk-import-json--";
    private const string ErrorMarker = "nk-import-error: ";
    private static readonly TimeSpan EvaluationTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// All the file sees of the caller's environment: enough to find programs, resolve ~ and pick a locale, and the
    /// NODE_ENV so many files branch on. Nothing else (tokens, passwords, NODE_OPTIONS) reaches it.
    /// </summary>
    private static readonly string[] PassedEnvironment = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "NODE_ENV"];

    /// <summary>
    /// Evaluates the ecosystem file as PM2 does (require, or import for an ES module) and prints it as JSON after a
    /// marker line, so whatever the file itself prints cannot be mistaken for it. The path comes in as an argument.
    /// Alongside the exports go the names of the variables the file read and found unset, so the variables the clean
    /// environment withheld from it can be named.
    /// </summary>
    private const string EvaluateScript = """
        'use strict';
        const path = require('path');
        const url = require('url');
        const file = path.resolve(process.argv[1]);
        const href = url.pathToFileURL(file).href;
        const unset = new Set();
        const read = {};
        const note = (t, k) => { if (typeof k !== 'string') return; if (!(k in t)) unset.add(k); else read[k] = t[k]; };
        // What the file asks of the machine, so the TOML can say which of its values are this machine's: CPU counts,
        // the texts it got (host name, home and temp folders, user), and the figures nothing can trace (memory...).
        const machine = {};
        const machineText = {};
        const machineUsed = new Set();
        const os = require('os');
        const watch = (f, take) => {
          const original = os[f];
          if (typeof original === 'function') os[f] = function (...a) { const r = original.apply(this, a); try { take(r); } catch {} return r; };
        };
        watch('cpus', (r) => { machine.cpus = r.length; });
        watch('availableParallelism', (r) => { machine.availableParallelism = r; });
        for (const f of ['hostname', 'homedir', 'tmpdir']) watch(f, (r) => { machineText['os.' + f + '()'] = String(r); });
        watch('userInfo', (r) => { machineText['os.userInfo().username'] = String(r.username); machineText['os.userInfo().homedir'] = String(r.homedir); });
        for (const f of ['totalmem', 'freemem', 'loadavg', 'networkInterfaces', 'uptime']) watch(f, () => { machineUsed.add('os.' + f + '()'); });
        // An ES module's `import { cpus } from 'os'` sees the watched functions too.
        require('module').syncBuiltinESMExports();
        process.env = new Proxy(process.env, {
          get(t, k) { note(t, k); return t[k]; },
          has(t, k) { note(t, k); return k in t; },
        });
        const refused = { ChildProcess: 'start a process', WorkerThreads: 'start a worker thread', FileSystemWrite: 'write' };
        function oneLine(e) {
          const text = (s) => String(s).replace(/\s*[\r\n]+\s*/g, ' ').trim();
          if (!(e instanceof Error)) return 'it threw ' + text(typeof e === 'string' ? e : JSON.stringify(e) ?? e);
          let message = (e.name || 'Error') + ': ' + text(String(e.message).split('\n')[0]);
          if (e.code === 'ERR_ACCESS_DENIED' || e.code === 'ERR_DLOPEN_DISABLED') {
            const what = e.code === 'ERR_DLOPEN_DISABLED' ? 'load a native addon'
              : (refused[e.permission] || 'use ' + (e.permission || text(e.message))) + (e.permission === 'FileSystemWrite' && e.resource ? ' ' + text(e.resource) : '');
            message = 'it tried to ' + what + ', which nk import refuses: it evaluates ecosystem files under Node\'s permission model, with no child processes, workers, native addons or file writes';
          }
          const stack = String(e.stack || '');
          let where = '';
          for (const name of [file, href]) {
            const at = stack.indexOf(name + ':');
            if (at >= 0) {
              const m = /^:(\d+)(?::(\d+))?/.exec(stack.slice(at + name.length));
              if (m) { where = ' (at ' + path.basename(file) + ':' + m[1] + (m[2] ? ':' + m[2] : '') + ')'; break; }
            }
          }
          return message + where;
        }
        (async () => {
          let m;
          // PM2 reads a .json file as a JavaScript expression: comments, unquoted keys and trailing commas are fine.
          if (/\.json5?$/i.test(file)) m = require('vm').runInThisContext('(' + require('fs').readFileSync(file, 'utf8') + '\n)', { filename: file, timeout: 1000 });
          else try { m = require(file); }
          catch (e) {
            if (!e || (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE')) throw e;
            m = await import(href);
          }
          if (m && Object.prototype.toString.call(m) === '[object Module]') m = 'default' in m ? m.default : { ...m };
          else if (m && m.__esModule && 'default' in m && !('apps' in m)) m = m.default;
          let out = m;
          if (Array.isArray(m)) out = { apps: m };
          else if (m && typeof m === 'object' && !('apps' in m) && !('pm2' in m)) out = { apps: [m] };
          const json = JSON.stringify({ exports: out === undefined ? null : out, unset: [...unset], read, machine, machineText, machineUsed: [...machineUsed] });
          process.stdout.write('\n--nk-import-json--\n' + json + '\n', () => process.exit(0));
        })().catch((e) => {
          process.stderr.write('\nnk-import-error: ' + oneLine(e) + '\n', () => process.exit(1));
        });
        """;

    public static Command Build()
    {
        var file = new Argument<string>("file") { Description = "the PM2 ecosystem file (ecosystem.config.js, .cjs, .mjs, .json or .yml)" };
        var env = new Option<string?>("--env") { Description = "merge env_NAME over env, as pm2 start --env NAME does", HelpName = "NAME" };
        var check = new Option<bool>("--check") { Description = "then load the output as nk start would and say what would not start on this machine (exit 1 if anything); starts nothing" };
        var cmd = new Command("import", "print the nodekeeper.toml equivalent of a PM2 ecosystem file") { file, env, check };
        cmd.SetAction((p, ct) => RunAsync(p.GetValue(file)!, p.GetValue(env), p.GetValue(check), ct));
        return cmd;
    }

    private static async Task<int> RunAsync(string file, string? envName, bool check, CancellationToken ct)
    {
        var full = Path.GetFullPath(file);
        if (!File.Exists(full))
        {
            await Console.Error.WriteLineAsync(Directory.Exists(full)
                ? $"nk: import: {file} is a folder: give the ecosystem file, such as {Path.Combine(file, "ecosystem.config.js")}"
                : $"nk: import: {file}: no such file: give the path of a PM2 ecosystem file");
            return Usage;
        }
        if (envName is { Length: 0 })
        {
            await Console.Error.WriteLineAsync("nk: import: --env needs a name, such as --env production");
            return Usage;
        }

        var (json, error) = Path.GetExtension(full).ToLowerInvariant() is ".yml" or ".yaml" ? ReadYaml(full) : await EvaluateAsync(full, ct);
        if (json is null)
        {
            await Console.Error.WriteLineAsync($"nk: import: {file}: {error}");
            return Failed;
        }

        ImportResult result;
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("exports", out var exports)
                || !doc.RootElement.TryGetProperty("unset", out var unset) || unset.ValueKind != JsonValueKind.Array)
                throw new JsonException("not the exports nk import asked node for");
            var withheld = unset.EnumerateArray().Select(n => n.GetString()!)
                .Where(n => Environment.GetEnvironmentVariable(n) is not null).Order(StringComparer.Ordinal).ToList();
            if (withheld.Count > 0)
                await Console.Error.WriteLineAsync($"nk: import: the file read {string.Join(", ", withheld)} from the environment, which nk import "
                    + $"does not pass to it (it passes only {string.Join(", ", PassedEnvironment)}): the TOML holds what the file made of "
                    + $"{(withheld.Count == 1 ? "it" : "them")} unset; give the apps their values with env or env_file");
            var fromEnvironment = doc.RootElement.TryGetProperty("read", out var read) && read.ValueKind == JsonValueKind.Object
                ? read.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).ToDictionary(p => p.Name, p => p.Value.GetString()!)
                : [];
            var cpus = doc.RootElement.TryGetProperty("machine", out var machine) && machine.ValueKind == JsonValueKind.Object
                ? machine.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number).Select(p => p.Value.GetInt32()).Distinct().ToList()
                : [];
            var fromMachine = doc.RootElement.TryGetProperty("machineText", out var text) && text.ValueKind == JsonValueKind.Object
                ? text.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).ToDictionary(p => p.Name, p => p.Value.GetString()!)
                : [];
            var untraced = doc.RootElement.TryGetProperty("machineUsed", out var used) && used.ValueKind == JsonValueKind.Array
                ? used.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!).Order(StringComparer.Ordinal).ToList()
                : [];
            if (untraced.Count > 0)
                await Console.Error.WriteLineAsync($"nk: import: the file asked this machine for {string.Join(", ", untraced)}: "
                    + "what it computed from them is this machine's, frozen in the TOML unmarked; check those values before using the TOML elsewhere");
            result = EcosystemImporter.Import(exports, new ImportOptions
            {
                FromEnvironment = fromEnvironment,
                FromMachine = fromMachine,
                CpuCountsRead = cpus,
                EcosystemDirectory = Path.GetDirectoryName(full)!,
                EcosystemFile = Path.GetFileName(full),
                EnvName = envName,
                CpuCount = Environment.ProcessorCount,
                HomeDirectory = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : null,
                FileExists = File.Exists,
                Which = Which,
                IsBinary = IsBinary,
            });
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync($"nk: import: {file}: node printed no readable JSON for it: {ex.Message}");
            return Failed;
        }

        foreach (var note in result.Notes) await Console.Error.WriteLineAsync($"nk: import: {note}");
        if (!result.Ok)
        {
            foreach (var e in result.Errors) await Console.Error.WriteLineAsync($"nk: import: {file}: {e}");
            return Usage;
        }
        await Console.Out.WriteAsync(result.Toml);
        await Console.Out.FlushAsync(ct);
        return check ? await CheckAsync(result.Toml!, full) : Ok;
    }

    /// <summary>
    /// --check: the TOML loaded by the config loader nk start uses (its errors as file:line:col), then what would keep
    /// each app from starting here (ImportCheck); one stderr line each, exit 1 when there is any.
    /// </summary>
    private static async Task<int> CheckAsync(string toml, string ecosystem)
    {
        const string Prefix = "nk: import --check: ";
        var folder = Path.GetDirectoryName(ecosystem)!;
        var ctx = new LoadContext(NkHome.Logs(Home.Current), Environment.ProcessorCount, p => SafeFiles.ReadAllText(p, DotEnv.MaxFileBytes));
        var loaded = ConfigLoader.Load(toml, Path.GetFileName(ecosystem) + " (imported)", folder, ctx);
        if (!loaded.Ok)
        {
            foreach (var line in loaded.ErrorLines()) await Console.Error.WriteLineAsync(Prefix + line);
            return Failed;
        }
        var problems = ImportCheck.Problems(loaded.Config!, new MachineFacts
        {
            FileExists = File.Exists,
            DirectoryExists = Directory.Exists,
            Which = Which,
            IsExecutable = IsExecutable,
            PortHolder = PortHolder,
            UserExists = u => NodeKeeper.Daemon.Supervision.InstanceLaunch.Passwd(u) is not null,
        });
        foreach (var p in problems) await Console.Error.WriteLineAsync(Prefix + p);
        if (problems.Count > 0) return Failed;
        await Console.Error.WriteLineAsync($"{Prefix}all {loaded.Config!.Apps.Count} app(s) would start here");
        return Ok;
    }

    /// <summary>Who holds a TCP port now, or null when it can be bound (every interface, as a shared port is).</summary>
    private static string? PortHolder(int port)
    {
        try
        {
            using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.IPv6Any, port);
            probe.Server.DualMode = true;
            probe.Start();
            return null;
        }
        catch (System.Net.Sockets.SocketException)
        {
            var owner = NodeKeeper.Daemon.Listeners.PortOwner.Describe(port);
            return owner.Length > 0 ? owner.TrimStart()["by ".Length..] : "another process";
        }
    }

    /// <summary>The file's exports as JSON, or why node could not give them (one line).</summary>
    private static async Task<(string? Json, string? Error)> EvaluateAsync(string path, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(EvaluationTimeout);
        string[]? permission;
        try { permission = await PermissionFlagsAsync(timeout.Token); }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException)
        {
            return (null, $"cannot run node to evaluate it ({Why(ex)}): install Node.js or put node on PATH");
        }
        catch (OperationCanceledException)
        {
            ct.ThrowIfCancellationRequested();
            return (null, $"node did not start within {EvaluationTimeout.TotalSeconds:0}s");
        }
        if (permission is null)
            await Console.Error.WriteLineAsync("nk: import: this node has no permission model (Node 20 and later have one), so the file "
                + "is evaluated able to write files and start processes; nk import still ends every process it leaves running");

        // In a session of its own (setsid execs in place), away from the terminal and its signals; stdin is empty.
        // The output is buffered, and read in full only once everything under nk import has ended: a process the file
        // left behind may hold the pipes open, so the timeout is on node's exit, not on the end of its output.
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var command = CliWrap.Cli.Wrap("setsid")
            .WithArguments(["node", .. permission ?? [], "--no-warnings", "-e", EvaluateScript, "--", path])
            .WithWorkingDirectory(Path.GetDirectoryName(path)!)
            .WithEnvironmentVariables(CleanEnvironment())
            .WithStandardOutputPipe(PipeTarget.ToStringBuilder(stdout))
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(stderr))
            .WithValidation(CommandResultValidation.None);

        // Whatever the file starts stays under nk import, even if it leaves its session: orphans come back to it.
        Native.BecomeChildSubreaper();
        Task? exited = null;
        CliWrap.CommandTask<CommandResult> task;
        try { task = command.ExecuteAsync(null, p => exited = p.WaitForExitAsync(CancellationToken.None), CancellationToken.None); }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException)
        {
            return (null, $"cannot run setsid to evaluate it ({Why(ex)}): install util-linux");
        }
        var timedOut = false;
        try { await exited!.WaitAsync(timeout.Token); }
        catch (OperationCanceledException) { timedOut = true; }
        var left = await EndEverythingUnderAsync(task.ProcessId);
        var result = await task;
        ct.ThrowIfCancellationRequested();
        if (timedOut)
            return (null, $"node did not finish evaluating it within {EvaluationTimeout.TotalSeconds:0}s (does it start something, or wait for input?)");
        if (left.Count > 0)
            return (null, $"processes it started could not be ended: pid {string.Join(", ", left)}");
        var (output, errors) = (stdout.ToString(), stderr.ToString());
        var at = output.LastIndexOf("\n" + Marker + "\n", StringComparison.Ordinal);
        if (result.ExitCode == 0 && at >= 0) return (output[(at + Marker.Length + 2)..], null);

        var lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ours = lines.LastOrDefault(l => l.StartsWith(ErrorMarker, StringComparison.Ordinal));
        var why = ours is not null ? ours[ErrorMarker.Length..]
            : lines.Length > 0 ? lines[^1]
            : $"node exited with code {result.ExitCode} before printing it (does it call process.exit?)";
        return (null, $"node could not evaluate it: {why}");
    }

    /// <summary>A YAML ecosystem file as the JSON the evaluation gives (exports, and no variables read): no code runs.</summary>
    private static (string? Json, string? Error) ReadYaml(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return (null, $"cannot read it: {ex.Message}"); }
        var (json, error) = YamlEcosystem.ToJson(text);
        if (json is null) return (null, $"not readable YAML: {error}");
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        // As the evaluation does for a module: one app object alone is the list of one.
        var exports = root.ValueKind == JsonValueKind.Object && !root.TryGetProperty("apps", out _) && !root.TryGetProperty("pm2", out _)
            ? $"{{\"apps\":[{json}]}}" : json;
        return ($"{{\"exports\":{exports},\"unset\":[]}}", null);
    }

    /// <summary>What a failure to start a program says: CliWrap wraps the runtime's reason.</summary>
    private static string Why(Exception ex) => (ex.InnerException as Win32Exception ?? ex).Message;

    /// <summary>Only <see cref="PassedEnvironment"/> of the caller's: CliWrap starts from the caller's environment, so every other variable is removed.</summary>
    private static Dictionary<string, string?> CleanEnvironment()
    {
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>()) env[name] = null;
        foreach (var name in PassedEnvironment)
            if (Environment.GetEnvironmentVariable(name) is { } value) env[name] = value;
        return env;
    }

    /// <summary>
    /// The flags that put this node under its permission model, reading anything (ecosystem files read configs,
    /// .env files and modules from anywhere) and nothing else: --permission from Node 22.13 and 23.5,
    /// --experimental-permission in Node 20 to 22; null for a node with neither (Node 18). Which one is probed with
    /// `node FLAG -e 0` rather than guessed from the version; a probe still running when <paramref name="ct"/> fires is killed.
    /// </summary>
    private static async Task<string[]?> PermissionFlagsAsync(CancellationToken ct)
    {
        foreach (var flag in (string[])["--permission", "--experimental-permission"])
        {
            string[] flags = [flag, "--allow-fs-read=*"];
            var probe = await CliWrap.Cli.Wrap("node")
                .WithArguments([.. flags, "-e", "0"])
                .WithEnvironmentVariables(CleanEnvironment())
                .WithValidation(CommandResultValidation.None)
                .ExecuteBufferedAsync(ct);
            if (probe.ExitCode == 0) return flags;
        }
        return null;
    }

    /// <summary>
    /// SIGKILLs every process under nk import (node, and all the file started: as their subreaper nk import gets back
    /// even those that left node's session) until none is left; the pids still alive after 5 s. What is signalled is
    /// what a fresh look at /proc found under this process, never a pid read from anywhere else.
    /// </summary>
    private static async Task<List<int>> EndEverythingUnderAsync(int node)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (true)
        {
            var live = new List<int>();
            foreach (var st in ProcSnapshot.Take().DescendantsOf(Environment.ProcessId))
            {
                if (!st.IsZombie) live.Add(st.Pid);
                else if (st.Ppid == Environment.ProcessId && st.Pid != node) Native.TryReap(st.Pid); // node is .NET's to reap
            }
            if (live.Count == 0 || DateTime.UtcNow > deadline) return live;
            foreach (var pid in live) Native.SignalProcess(pid, Native.SIGKILL);
            await Task.Delay(10, CancellationToken.None);
        }
    }

    /// <summary>Where a command is on this PATH, as PM2's which finds it: the first executable file of that name.</summary>
    private static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var path = Path.Combine(dir, name);
            try
            {
                if (File.Exists(path) && IsExecutable(path)) return path;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }

    /// <summary>Whether the file has an x bit (for anyone).</summary>
    private static bool IsExecutable(string path) =>
        (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    /// <summary>PM2's isBinary, in short: a NUL byte in the first 512 bytes.</summary>
    private static bool IsBinary(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            var head = new byte[512];
            var n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            return Array.IndexOf(head, (byte)0, 0, n) >= 0;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
