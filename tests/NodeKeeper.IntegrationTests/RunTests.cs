using System.Diagnostics;
using System.Text;

namespace NodeKeeper.IntegrationTests;

/// <summary>`nk run`: container mode, also as PID 1 of its own pid namespace.</summary>
public sealed class RunTests
{
    /// <summary>
    /// A `nk run` started by the test (through a prefix such as unshare), with its output captured. A raw Process, not
    /// the buffered runner of TestHome: the test reads its output and signals it while it runs.
    /// </summary>
    private sealed class Foreground : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _out = new();
        private readonly TestHome _home;

        public Foreground(TestHome home, string config, params string[] prefix)
        {
            _home = home;
            var psi = new ProcessStartInfo(prefix.Length > 0 ? prefix[0] : Repo.Nk) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in prefix.Skip(1)) psi.ArgumentList.Add(a);
            if (prefix.Length > 0) psi.ArgumentList.Add(Repo.Nk);
            psi.ArgumentList.Add("run");
            psi.ArgumentList.Add(config);
            psi.Environment["NODEKEEPER_HOME"] = home.Home;
            _process = Process.Start(psi)!;
            _process.OutputDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
            _process.ErrorDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Output { get { lock (_out) return _out.ToString(); } }
        public int ExitCode => _process.ExitCode;

        /// <summary>Waits for nk run to exit; fails with what it printed when it does not in time.</summary>
        public async Task ExitAsync(TimeSpan timeout)
        {
            try { await _process.WaitForExitAsync().WaitAsync(timeout); }
            catch (TimeoutException) { throw new TimeoutException($"nk run did not exit within {timeout.TotalSeconds}s; it printed:\n{Output}"); }
        }

        public async ValueTask DisposeAsync()
        {
            // Our own child, by its handle; whatever it left is killed by pid by the TestHome, after its check.
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }

    /// <summary>The nk process itself (not unshare, which carries the same environment).</summary>
    private static int? NkPid(TestHome home) =>
        Procs.OwnedBy(home.Home).Cast<int?>().FirstOrDefault(p => File.ReadAllText($"/proc/{p}/comm").Trim() == "nk-full"); // `nk run` execs nk-full: same pid

    [Fact]
    public async Task Nk_run_as_pid_1_serves_reaps_orphans_mirrors_logs_passes_SIGHUP_on_and_exits_0_on_SIGTERM()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "orphaner.js", $"port = {port}\nhost = \"127.0.0.1\"\nenv = {{ ORPHAN_SLEEP = \"10\" }}"));
        await using var run = new Foreground(home, config, "unshare", "--pid", "--fork", "--mount-proc");

        await Eventually.Until(() => FreshHttp.Get(port), body => body is not null && body.StartsWith("orphaner"), TimeSpan.FromSeconds(20), "the app to serve");
        var nk = NkPid(home)!.Value;
        File.ReadAllText($"/proc/{nk}/status").Should().MatchRegex(@"NSpid:\s+\d+\s+1\s", "nk is PID 1 of its namespace");
        // The app may serve a moment before the daemon has heard it listen: its status is polled for.
        await Eventually.Until(async () => (await home.OkAsync("status")).Out, o => o.Contains("web") && o.Contains("online"),
            TimeSpan.FromSeconds(10), "the control socket to answer inside the container, with web online");
        await Eventually.Until(() => Task.FromResult(run.Output), o => o.Contains("web | orphaner"), TimeSpan.FromSeconds(10), "app logs on stdout");

        // Three `sleep 10` orphaned at the app's start are reparented to nk (PID 1); once they end, nk reaps them.
        var children = () => Task.FromResult(Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var p) ? p : 0)
            .Where(p => p > 1 && Ppid(p) == nk).Select(p => (Pid: p, Zombie: Procs.IsZombie(p), Comm: Comm(p))).ToList());
        await Eventually.Until(children, c => c.Count(x => x.Comm == "sleep") >= 3, TimeSpan.FromSeconds(10), "the orphans to be nk's children");
        await Eventually.Until(children, c => c.All(x => x.Comm != "sleep"), TimeSpan.FromSeconds(25), "the orphans to end and be reaped, not left as zombies");

        // SIGHUP to PID 1 is passed on to the app.
        Procs.Signal(nk, 1, home.Home);
        await Eventually.Until(() => Task.FromResult(run.Output), o => o.Contains("got SIGHUP"), TimeSpan.FromSeconds(10), "the app to get the SIGHUP");

        Procs.Signal(nk, 15, home.Home);
        await run.ExitAsync(TimeSpan.FromSeconds(20));
        run.ExitCode.Should().Be(0, run.Output);
        await Eventually.Until(() => Task.FromResult(Procs.OwnedBy(home.Home).Where(Procs.IsAlive).ToList()), l => l.Count == 0,
            TimeSpan.FromSeconds(10), "nothing left");
    }

    [Fact]
    public async Task Nk_run_exits_1_when_every_app_has_errored()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("boom", "crasher.js", "max_restarts = 1\nrestart_delay = \"50ms\""));
        await using var run = new Foreground(home, config);
        await run.ExitAsync(TimeSpan.FromSeconds(30));
        run.ExitCode.Should().Be(1, run.Output);
        run.Output.Should().Contain("boom | ");
    }

    [Fact]
    public async Task Nk_run_with_a_bad_config_starts_nothing_and_exits_2()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig("[[app]]\nname = \"x\"\nscript = \"x.js\"\nkill_timeout = 5\n");
        await using var run = new Foreground(home, config);
        await run.ExitAsync(TimeSpan.FromSeconds(30));
        run.ExitCode.Should().Be(2);
        run.Output.Should().Contain("kill_timeout must be a duration with a unit");
        File.Exists(Path.Combine(home.Home, "nk.pid")).Should().BeFalse();
    }

    private static string Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return ""; }
    }

    private static int Ppid(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        }
        catch (Exception ex) when (ex is IOException or FormatException) { return -1; }
    }
}
