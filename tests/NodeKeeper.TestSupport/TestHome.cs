using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.TestSupport;

/// <summary>What one nk command did.</summary>
public sealed record NkResult(int Code, string Out, string Err)
{
    public override string ToString() => $"exit {Code}\nstdout:\n{Out}\nstderr:\n{Err}";
}

/// <summary>
/// A private NODEKEEPER_HOME with its own daemon, and the nk CLI pointed at it. Disposing stops the daemon
/// and then kills, by pid, whatever still carries this home in its environment.
/// </summary>
public sealed class TestHome : IAsyncDisposable
{
    public TestHome()
    {
        Home = Path.Combine("/tmp", "nk-it", Guid.NewGuid().ToString("N")[..12]);
        Configs = Home + "-cfg";
        Directory.CreateDirectory(Configs);
    }

    public string Home { get; }
    public string Configs { get; }
    public string Logs => Path.Combine(Home, "logs");

    public async Task<NkResult> RunAsync(params string[] args) => await RunAsUserAsync(null, args);

    /// <summary>Runs nk-full directly (not through nk's fast path or its exec).</summary>
    public async Task<NkResult> RunFullAsync(params string[] args) => await RunWithAsync([Repo.NkFull], args);

    /// <summary>Runs nk, optionally through a prefix such as setpriv (to act as another user).</summary>
    public async Task<NkResult> RunAsUserAsync(string[]? prefix, params string[] args) =>
        await RunWithAsync([.. prefix ?? [], Repo.Nk], args);

    /// <summary>Runs a command line (an executable and its first arguments) plus args, pointed at this home.</summary>
    public Task<NkResult> RunWithAsync(string[] command, params string[] args) => RunCoreAsync(command, args, TimeSpan.FromSeconds(120), null);

    /// <summary>The same with a deadline of the test's own.</summary>
    public Task<NkResult> RunWithAsync(string[] command, TimeSpan timeout, params string[] args) => RunCoreAsync(command, args, timeout, null);

    /// <summary>
    /// Runs nk with its own deadline, handing its pid to <paramref name="started"/> as soon as it runs (to watch it
    /// through /proc while it works).
    /// </summary>
    public Task<NkResult> RunWatchedAsync(Action<int> started, TimeSpan timeout, params string[] args) =>
        RunCoreAsync([Repo.Nk], args, timeout, started);

    /// <summary>
    /// Buffered (UTF-8, as nk writes), with an empty stdin and a deadline past which the command is killed and the test
    /// fails; a non-zero exit is a result to assert on, not an error.
    /// </summary>
    private async Task<NkResult> RunCoreAsync(string[] command, string[] args, TimeSpan timeout, Action<int>? started)
    {
        using var cts = new CancellationTokenSource(timeout);
        var run = Cli.Wrap(command[0])
            .WithArguments(command.Skip(1).Concat(args))
            .WithWorkingDirectory(Configs)
            .WithEnvironmentVariables(e => e.Set("NODEKEEPER_HOME", Home).Set("DOTNET_CLI_TELEMETRY_OPTOUT", "1"))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, cts.Token);
        started?.Invoke(run.ProcessId);
        try
        {
            var r = await run;
            return new NkResult(r.ExitCode, r.StandardOutput, r.StandardError);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"{Path.GetFileName(command[0])} {string.Join(' ', args)} did not finish in {timeout.TotalSeconds:0}s");
        }
    }

    /// <summary>Runs nk and fails the test unless it exits 0.</summary>
    public async Task<NkResult> OkAsync(params string[] args)
    {
        var r = await RunAsync(args);
        if (r.Code != 0)
            r.Code.Should().Be(0, $"nk {string.Join(' ', args)} should succeed, but:\n{r}\nthe end of daemon.log:\n{DaemonLogTail()}");
        return r;
    }

    /// <summary>The last lines of daemon.log, for a failure message: the home is deleted when the test ends.</summary>
    public string DaemonLogTail(int lines = 30)
    {
        try { return string.Join('\n', File.ReadLines(Path.Combine(Home, "daemon.log")).TakeLast(lines)); }
        catch (IOException) { return "(no daemon.log)"; }
    }

    /// <summary>
    /// Every instance. Asked over the daemon's control socket as nk asks (one request line, one answer line): tests poll
    /// this many times a second, and an nk process per poll cost more CPU than the apps under test. When no daemon
    /// answers there (or it refuses), `nk status --json` is run instead, which starts one as nk does.
    /// (The tests of `nk status` itself run it.)
    /// </summary>
    public async Task<List<InstanceInfo>> StatusAsync()
    {
        if (await AskAsync(new Request { Id = 1, Cmd = Commands.Status }) is { Ok: true, Instances: { } rows }) return [.. rows];
        var r = await OkAsync("status", "--json");
        return JsonSerializer.Deserialize(r.Out, ProtocolJson.Default.ListInstanceInfo)!;
    }

    /// <summary>One request on a fresh connection to this home's control socket; null when no answer came (no daemon, a closed connection, 30 s).</summary>
    public async Task<Response?> AskAsync(Request request)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(NkHome.Socket(Home)), cts.Token);
            await socket.SendAsync((byte[])[.. JsonSerializer.SerializeToUtf8Bytes(request, ProtocolJson.Default.Request), (byte)'\n'], cts.Token);
            var answer = new MemoryStream();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, cts.Token);
                if (n == 0) return null;
                var newline = Array.IndexOf(buffer, (byte)'\n', 0, n);
                answer.Write(buffer, 0, newline >= 0 ? newline : n);
                if (newline >= 0) return JsonSerializer.Deserialize(answer.ToArray(), ProtocolJson.Default.Response);
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or JsonException or OperationCanceledException)
        {
            return null;
        }
    }

    public async Task<InstanceInfo> InstanceAsync(string name, int instance = 0) =>
        (await StatusAsync()).Single(i => i.Name == name && i.Instance == instance);

    /// <summary>Polls status until the instance satisfies the predicate.</summary>
    public Task<InstanceInfo> WaitForAsync(string name, Func<InstanceInfo, bool> until, string what, int seconds = 30, int instance = 0) =>
        Eventually.Until(() => InstanceAsync(name, instance), until, TimeSpan.FromSeconds(seconds), $"{name}:{instance} {what}");

    /// <summary>Polls status until every instance of the app satisfies the predicate; returns them.</summary>
    public Task<List<InstanceInfo>> WaitForAllAsync(string name, Func<InstanceInfo, bool> until, string what, int seconds = 30) =>
        Eventually.Until(async () => (await StatusAsync()).Where(i => i.Name == name).ToList(), l => l.Count > 0 && l.All(until),
            TimeSpan.FromSeconds(seconds), $"every instance of {name} {what}");

    public async Task<AppDescription> DescribeAsync(string name)
    {
        var r = await OkAsync("describe", name, "--json");
        return JsonSerializer.Deserialize(r.Out, ProtocolJson.Default.AppDescription)!;
    }

    /// <summary>Polls an app's log until it contains the text; returns the log.</summary>
    public Task<string> WaitForLogAsync(string app, string text, string stream = "out", int seconds = 15)
    {
        var path = Path.Combine(Logs, $"{app}.{stream}.log");
        return Eventually.Until(() => Task.FromResult(File.Exists(path) ? File.ReadAllText(path) : ""),
            t => t.Contains(text), TimeSpan.FromSeconds(seconds), $"\"{text}\" in {path}");
    }

    /// <summary>Writes a config file into this test's config folder and returns its path.</summary>
    public string WriteConfig(string toml, string file = "nodekeeper.toml")
    {
        var path = Path.Combine(Configs, file);
        File.WriteAllText(path, toml);
        return path;
    }

    /// <summary>A TOML [[app]] block for an example script (absolute path).</summary>
    public static string App(string name, string example, string extra = "") =>
        $"[[app]]\nname = \"{name}\"\nscript = \"{Repo.Example(example)}\"\n{extra}\n";

    public int? DaemonPid()
    {
        var pidFile = Path.Combine(Home, "nk.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)) return null;
        // Never trust a pid read from a file: it must be alive and carry this home.
        return Procs.OwnedBy(Home).Contains(pid) ? pid : null;
    }

    public async ValueTask DisposeAsync()
    {
        try { await RunAsync("kill"); }
        catch (Exception) { /* fall through to killing by pid */ }
        foreach (var pid in Procs.OwnedBy(Home)) Procs.KillOwned(pid, Home);
        await Eventually.Until(() => Procs.OwnedBy(Home).Count == 0, TimeSpan.FromSeconds(10), $"every process of {Home} to end");
        try { Directory.Delete(Home, true); } catch (IOException) { }
        try { Directory.Delete(Configs, true); } catch (IOException) { }
    }
}
