using System.Diagnostics;
using Xunit.Abstractions;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// A thousand restarts of a crashing app through one daemon (bench/longrun.js does 10,000 with node): the daemon's open
/// files, resident memory and threads stay flat. Each crash is a stable run (min_uptime = "0ms"), so the app restarts
/// at once, with no backoff. The app is a shell script that writes a line to stderr and exits 1: to the daemon a
/// restart is the same work as with node (setsid, pipes, IPC channel, exit, classification, state), but it costs a
/// few ms of CPU instead of node's ~130 ms on this 2-core machine, so the loop fits in CI.
/// </summary>
public sealed class LongRunTests(ITestOutputHelper output)
{
    private const int Restarts = 1000;
    private const int WarmUp = 30;
    private const int Instances = 2;

    [Fact]
    public async Task A_thousand_restarts_of_a_crashing_app_leave_the_daemons_fds_and_memory_flat()
    {
        await using var home = new TestHome();
        var crasher = Path.Combine(home.Configs, "crash.sh");
        File.WriteAllText(crasher, "#!/bin/sh\necho \"crash $$: exiting with 1\" >&2\nexit 1\n");
        File.SetUnixFileMode(crasher, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var config = home.WriteConfig(TestHome.App("lr", "crasher.js",
            $"interpreter = \"{crasher}\"\ninstances = {Instances}\nmin_uptime = \"0ms\"\nrestart_delay = \"1ms\"\nmax_restart_delay = \"1ms\"\nmax_restarts = 0\n" +
            "log = { max_size = \"16K\", keep = 2 }\nenv = { CRASH_AFTER_MS = \"0\" }"));
        await home.OkAsync("start", config, "--no-wait");
        var daemon = home.DaemonPid() ?? throw new InvalidOperationException("no daemon");

        // A warm-up (the daemon's code paths for a crash are compiled once), then the quiet state to compare with:
        // the app loaded and stopped.
        await Eventually.Until(() => NkFootprint.StatusAsync(home), r => r.Sum(i => i.Restarts) >= WarmUp, TimeSpan.FromSeconds(20), $"{WarmUp} restarts");
        await home.OkAsync("stop", "lr");
        var before = await NkFootprint.SteadyAsync(daemon);
        var startRestarts = (await NkFootprint.StatusAsync(home)).Sum(i => i.Restarts);
        output.WriteLine($"daemon {daemon} after {startRestarts} warm-up restarts, app stopped: {before}");

        await home.OkAsync("start", "lr", "--no-wait");
        var clock = Stopwatch.StartNew();
        var samples = new List<string>();
        var peak = before;
        var next = 100;
        var (lastDone, lastProgress) = (0, TimeSpan.Zero);
        int done;
        while (true)
        {
            var rows = await NkFootprint.StatusAsync(home);
            rows.Should().NotContain(r => r.Status == "errored", "stable runs never count against max_restarts = 0");
            done = rows.Sum(i => i.Restarts) - startRestarts;
            var now = NkFootprint.Of(daemon);
            peak = new DaemonFigures(Math.Max(peak.Fds, now.Fds), Math.Max(peak.RssKb, now.RssKb), Math.Max(peak.Threads, now.Threads));
            if (done >= next)
            {
                samples.Add($"{done}: {now}");
                next = (done / 100 + 1) * 100;
            }
            if (done >= Restarts) break;
            // A deadline on progress, not on speed (another test class may share the cores): the restarts must go on.
            if (done > lastDone) (lastDone, lastProgress) = (done, clock.Elapsed);
            (clock.Elapsed - lastProgress).Should().BeLessThan(TimeSpan.FromSeconds(20), $"the app keeps restarting (done {done} of {Restarts})");
            await Task.Delay(100);
        }
        var elapsed = clock.Elapsed;
        await home.OkAsync("stop", "lr");
        output.WriteLine($"{done} restarts in {elapsed.TotalSeconds:0.0} s ({done / elapsed.TotalSeconds:0} /s); peak while running: {peak}");
        output.WriteLine("while running: " + string.Join("; ", samples));

        NkFootprint.Instances(home.Home).Should().BeEmpty("the stop leaves no crasher running");
        (await NkFootprint.NoZombiesAsync(daemon)).Should().BeEmpty("every crashed process was reaped");
        var end = await Eventually.Last(() => Task.FromResult(NkFootprint.Of(daemon)),
            f => Math.Abs(f.Fds - before.Fds) <= 3 && f.RssKb - before.RssKb < 30 * 1024, TimeSpan.FromSeconds(15), every: TimeSpan.FromMilliseconds(250));
        output.WriteLine($"daemon after {done} more restarts, app stopped: {end} (before: {before})");
        end.Fds.Should().BeInRange(before.Fds - 3, before.Fds + 3, $"no fd leaks over {done} restarts ({before} -> {end})");
        (end.RssKb - before.RssKb).Should().BeLessThan(30 * 1024, $"no memory leak over {done} restarts ({before} -> {end})");
        end.Threads.Should().BeLessThan(before.Threads + 20, $"no thread leak over {done} restarts ({before} -> {end})");
    }
}
