using System.Diagnostics;
using System.Text;

namespace NodeKeeper.IntegrationTests;

public sealed class MonitTests
{
    private const string ShowCursor = "\u001b[?25h", LeaveAlternateScreen = "\u001b[?1049l";

    [Fact]
    public async Task Monit_under_a_terminal_shows_the_app_online_and_q_quits_with_the_terminal_restored()
    {
        await using var home = new TestHome();
        await StartWebAsync(home);

        await using var monit = MonitSession.Start(home);
        await monit.WaitForOutputAsync(o => o.Contains("web") && o.Contains("online"), "the web app online in the view");
        monit.Type("q");
        var code = await monit.WaitForExitAsync();

        code.Should().Be(0, monit.Output);
        monit.Output.Should().Contain(ShowCursor).And.Contain(LeaveAlternateScreen);
        monit.Output.LastIndexOf(LeaveAlternateScreen).Should().BeGreaterThan(monit.Output.LastIndexOf("online"), "the screen is left after the last frame");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // started by a shell with SIGINT ignored (a job started with &): the terminal's SIGINT does nothing
    public async Task Monit_quits_on_ctrl_c_with_exit_code_0_and_the_terminal_restored(bool sigintIgnored)
    {
        await using var home = new TestHome();
        await StartWebAsync(home);

        await using var monit = MonitSession.Start(home, sigintIgnored);
        await monit.WaitForOutputAsync(o => o.Contains("online"), "the web app online in the view");
        monit.Type("\u0003"); // the terminal turns ^C into SIGINT
        var code = await monit.WaitForExitAsync();

        code.Should().Be(0, monit.Output);
        monit.Output.Should().Contain(ShowCursor).And.Contain(LeaveAlternateScreen);
    }

    [Fact]
    public async Task Monit_restores_the_terminal_and_exits_1_when_the_daemon_goes_away()
    {
        await using var home = new TestHome();
        await StartWebAsync(home);
        var daemon = home.DaemonPid();
        daemon.Should().NotBeNull();

        await using var monit = MonitSession.Start(home);
        await monit.WaitForOutputAsync(o => o.Contains("online"), "the web app online in the view");
        Procs.Signal(daemon!.Value, 9, home.Home);
        var code = await monit.WaitForExitAsync();

        code.Should().Be(1, monit.Output);
        var output = monit.Output;
        output.Should().Contain("nk: lost the daemon: ");
        output.LastIndexOf(LeaveAlternateScreen).Should().BeLessThan(output.IndexOf("nk: lost the daemon: "), "the error is printed on the normal screen");
        output.Should().Contain(ShowCursor);
    }

    [Fact]
    public async Task Monit_with_stdout_redirected_prints_one_plain_table_and_exits_0()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"")
            + TestHome.App("bg", "worker.js"));
        await home.OkAsync("start", config);

        var all = await home.RunAsync("monit");
        all.Code.Should().Be(0, all.ToString());
        all.Out.Should().Contain("web").And.Contain("bg").And.Contain("online").And.Contain("restarts");
        all.Out.Should().NotContain("\u001b", "a redirected snapshot has no escape sequences");

        var one = await home.RunAsync("monit", "bg");
        one.Code.Should().Be(0, one.ToString());
        one.Out.Should().Contain("bg").And.NotContain("web");

        var unknown = await home.RunAsync("monit", "nope");
        unknown.Code.Should().Be(1, unknown.ToString());
        unknown.Err.Should().Contain("nope");
    }

    [Fact]
    public void Monit_view_marks_warned_rows_lists_their_warnings_and_shows_memory_growth()
    {
        var rows = new List<NodeKeeper.Core.Protocol.InstanceInfo>
        {
            new() { Name = "web", Instance = 0, Pid = 42, Status = "online", MemoryBytes = 50L << 20, MemoryGrowthMbPerMin = 12.34,
                    HeapUsedBytes = 8L << 20, HeapLimitBytes = 4L << 30, EventLoopLagMs = 3.4, OpenFiles = 950, MaxOpenFiles = 1024,
                    Warnings = ["open files 950 of 1024"], Restarts = 2, UptimeMs = 90_000 },
            new() { Name = "bg", Instance = 1, Status = "errored" },
        };

        var text = NodeKeeper.Cli.Monit.ToText(NodeKeeper.Cli.Monit.View(rows, DateTimeOffset.Now, live: false), 200, 0, color: false);

        text.Should().Contain("! web").And.Contain("+12.3 MB/min").And.Contain("8M / 4G").And.Contain("3.4ms").And.Contain("950/1024");
        text.Should().Contain("warnings:").And.Contain("web:0  open files 950 of 1024");
        text.Should().NotContain("! bg").And.NotContain("\u001b");
        var bg = text.Split('\n').Single(l => l.Contains("bg"));
        bg.Should().Contain("errored").And.Contain("-");
        NodeKeeper.Cli.Monit.ToText(NodeKeeper.Cli.Monit.View(rows, DateTimeOffset.Now, live: true), 200, 0, color: true)
            .Should().Contain("\u001b[", "a live frame is coloured").And.Contain("q to quit");
    }

    private static async Task StartWebAsync(TestHome home)
    {
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
    }

    /// <summary>`nk monit` on a real pseudo-terminal made by util-linux script; stdin is a pipe the test types into.</summary>
    private sealed class MonitSession : IAsyncDisposable
    {
        private readonly Process _script;
        private readonly StringBuilder _output = new();
        private readonly Task _reader;

        private MonitSession(Process script)
        {
            _script = script;
            _reader = Task.Run(async () =>
            {
                var buffer = new char[4096];
                int n;
                while ((n = await _script.StandardOutput.ReadAsync(buffer)) > 0)
                    lock (_output) _output.Append(buffer, 0, n);
            });
        }

        public string Output { get { lock (_output) return _output.ToString(); } }

        public static MonitSession Start(TestHome home, bool sigintIgnored = false)
        {
            var nk = "'" + Repo.Nk.Replace("'", "'\\''") + "'";
            var ignore = sigintIgnored ? "trap '' INT; " : "";
            var psi = new ProcessStartInfo("script", ["-q", "-e", "-c", $"{ignore}stty cols 160 rows 40; exec {nk} monit", "/dev/null"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = home.Configs,
            };
            psi.Environment["NODEKEEPER_HOME"] = home.Home;
            psi.Environment["TERM"] = "xterm-256color";
            psi.Environment["SHELL"] = "/bin/sh";
            psi.Environment.Remove("NO_COLOR");
            var p = Process.Start(psi)!;
            p.ErrorDataReceived += (_, _) => { };
            p.BeginErrorReadLine();
            return new MonitSession(p);
        }

        public async Task WaitForOutputAsync(Func<string, bool> done, string what)
        {
            var seen = await Eventually.Until(() => Task.FromResult(Output), o => done(o) || _script.HasExited, TimeSpan.FromSeconds(30), what);
            if (!done(seen)) throw new InvalidOperationException($"nk monit ended before {what}; output:\n{seen}");
        }

        public void Type(string keys)
        {
            _script.StandardInput.Write(keys);
            _script.StandardInput.Flush();
        }

        public async Task<int> WaitForExitAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try { await _script.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"nk monit did not exit within 15s; output:\n{Output}"); }
            await _reader; // the rest of the output
            return _script.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_script.HasExited) _script.Kill(entireProcessTree: true);
            await _script.WaitForExitAsync();
            try { await _reader; } catch (Exception) { /* the pipe closed under the reader */ }
            _script.Dispose();
        }
    }
}
