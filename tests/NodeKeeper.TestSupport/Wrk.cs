using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace NodeKeeper.TestSupport;

/// <summary>What one wrk run counted.</summary>
public sealed record WrkResult(string Label, long Requests, long Connect, long Read, long Write, long Timeout, long Non2xx, string Output)
{
    public long SocketErrors => Connect + Read + Write + Timeout;
    public override string ToString() =>
        $"{Label}: {Requests} requests, socket errors connect {Connect} read {Read} write {Write} timeout {Timeout}, non-2xx {Non2xx}";
}

/// <summary>
/// A keep-alive load from wrk (Debian's package; tests/setup.sh installs it) until stopped: wrk keeps each of its
/// connections open and sends the next request as soon as the last response is in, as nginx, agents and meshes do.
/// wrk never retries: every request that a closed connection or an error answer cost is counted.
/// </summary>
public sealed partial class Wrk : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;
    private readonly string? _script;

    public string Label { get; }

    private Wrk(string label, Process process, string? script)
    {
        Label = label;
        _process = process;
        _script = script;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    /// <summary>Starts wrk on a URL that already answers; POST sends a small JSON body.</summary>
    public static Wrk Start(string label, string url, bool post, int connections = 8)
    {
        string? script = null;
        var psi = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-t1", $"-c{connections}", "-d600s", "--timeout", "20s" }) psi.ArgumentList.Add(a);
        if (post)
        {
            script = Path.Combine(Path.GetTempPath(), $"nk-wrk-post-{Guid.NewGuid():N}.lua");
            File.WriteAllText(script, "wrk.method = \"POST\"\nwrk.body = '{\"order\": 42}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n");
            psi.ArgumentList.Add("-s");
            psi.ArgumentList.Add(script);
        }
        psi.ArgumentList.Add(url);
        return new Wrk(label, Process.Start(psi)!, script);
    }

    /// <summary>What wrk has read from its connections so far (rchar of /proc/PID/io), to see that the load goes on.</summary>
    public long BytesRead()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/io"))
                if (line.StartsWith("rchar:", StringComparison.Ordinal)) return long.Parse(line[6..].Trim());
        }
        catch (IOException) { }
        return 0;
    }

    /// <summary>Ends the run (SIGINT: wrk prints its summary) and reads what it counted.</summary>
    public async Task<WrkResult> StopAsync()
    {
        // Our own child, by the pid of the Process we started, and only while it runs.
        if (!_process.HasExited && _process.Id > 1) kill(_process.Id, 2);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(cts.Token);
        var output = await _stdout + await _stderr;
        long Num(Regex r, int group = 1) => r.Match(output) is { Success: true } m ? long.Parse(m.Groups[group].Value) : 0;
        var errors = SocketErrors().Match(output);
        var result = new WrkResult(Label, Num(Requests()),
            errors.Success ? long.Parse(errors.Groups[1].Value) : 0, errors.Success ? long.Parse(errors.Groups[2].Value) : 0,
            errors.Success ? long.Parse(errors.Groups[3].Value) : 0, errors.Success ? long.Parse(errors.Groups[4].Value) : 0,
            Num(Non2xx()), output);
        if (!Requests().IsMatch(output)) throw new InvalidOperationException($"wrk ({Label}) printed no summary:\n{output}");
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        if (_script is not null) File.Delete(_script);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex Requests();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrors();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex Non2xx();
}
