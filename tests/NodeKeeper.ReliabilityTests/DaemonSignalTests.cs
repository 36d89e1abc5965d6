namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// Signals a user or a tool sends a daemon: a closed terminal sends SIGHUP, logrotate's postrotate scripts send SIGHUP
/// or SIGUSR1. They used to end the daemon at once (their default action), leaving its apps running unsupervised with
/// nobody reading their pipes. Each now means: reopen the apps' log files.
/// </summary>
public sealed class DaemonSignalTests
{
    [Theory]
    [InlineData(1, "SIGHUP")]
    [InlineData(10, "SIGUSR1")]
    [InlineData(12, "SIGUSR2")]
    public async Task A_signal_from_logrotate_reopens_the_app_logs_and_the_daemon_runs_on(int signal, string name)
    {
        await using var home = new TestHome();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("ticker", "counter.js", "env = { BURST = \"1\", TICK_MS = \"20\" }")));
        var log = Path.Combine(home.Logs, "ticker.out.log");
        await home.WaitForLogAsync("ticker", "count 5 ");
        var daemon = home.DaemonPid()!.Value;
        var app = (await home.InstanceAsync("ticker")).Pid;

        // What logrotate does without copytruncate: move the file away, then tell the daemon.
        File.Move(log, log + ".1");
        Procs.Signal(daemon, signal, home.Home);

        await Eventually.Until(() => File.Exists(log) && new FileInfo(log).Length > 0, TimeSpan.FromSeconds(10), $"new lines in a new {log}");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain($"{name}: reopened the log files of 1 app(s)");
        Procs.IsAlive(daemon).Should().BeTrue($"{name} must not end the daemon");
        (await home.OkAsync("ping")).Out.Should().Contain($"daemon pid {daemon}");
        var after = await home.InstanceAsync("ticker");
        after.Pid.Should().Be(app, "the app runs on, supervised");
        after.Status.Should().Be("online");
        // Nothing was lost across the move: the moved file and the new one hold consecutive counts.
        var moved = File.ReadAllLines(log + ".1").Where(l => l.StartsWith("count ", StringComparison.Ordinal)).ToList();
        var fresh = File.ReadAllLines(log).First(l => l.StartsWith("count ", StringComparison.Ordinal));
        int.Parse(fresh.Split(' ')[1]).Should().Be(int.Parse(moved[^1].Split(' ')[1]) + 1, "the new file goes on where the moved one ends");
    }
}

/// <summary>
/// A daemon that died without stopping (kill -9, a crash, a signal it did not survive) leaves its apps running with
/// nobody supervising them. `nk kill` then ends them, as the next daemon would, instead of saying nothing runs.
/// </summary>
public sealed class DeadDaemonTests
{
    [Fact]
    public async Task Nk_kill_after_the_daemon_died_ends_every_process_it_left()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(
            TestHome.App("web", "no-handler.js", $"instances = 2\nport = {port}\nhost = \"127.0.0.1\"") +
            TestHome.App("worker", "graceful.js")));
        var pids = (await home.WaitForAllAsync("web", i => i.Status == "online", "online")).Select(i => i.Pid!.Value)
            .Append((await home.InstanceAsync("worker")).Pid!.Value).ToList();
        var daemon = home.DaemonPid()!.Value;
        // state.json trails a change by 100 ms: wait until it records every app's process.
        var state = Path.Combine(home.Home, "state.json");
        bool Recorded(int pid) => NodeKeeper.Daemon.State.StateFile.Read(state).State?.Apps.SelectMany(a => a.Instances).Any(i => i.Process?.Pid == pid) == true;
        await Eventually.Until(() => pids.All(Recorded),
            TimeSpan.FromSeconds(10), "state.json to record every process");

        Procs.Signal(daemon, 9, home.Home);
        await Eventually.Until(() => !Procs.IsAlive(daemon), TimeSpan.FromSeconds(10), "the daemon to die");
        pids.Should().OnlyContain(p => Procs.IsAlive(p), "the apps outlive a daemon killed with SIGKILL");

        var kill = await home.RunAsync("kill");

        kill.Code.Should().Be(0, kill.ToString());
        kill.Err.Should().Contain($"the one that did (pid {daemon}) died without stopping its apps: ended");
        await Eventually.Until(() => pids.All(p => !Procs.IsAlive(p)), TimeSpan.FromSeconds(15), "every app process to end");
        File.Exists(state).Should().BeFalse("nothing is left for a next daemon to take over");
        Procs.OwnedBy(home.Home).Should().BeEmpty("no process of this home is left");
        (await home.RunAsync("kill")).Err.Should().Contain("nothing to stop");
    }
}
