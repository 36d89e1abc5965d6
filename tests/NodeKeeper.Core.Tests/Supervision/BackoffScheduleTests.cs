using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>The whole life of a crash-looping app, driven Launch -> Spawned -> Exited -> TimerFired until it gives up.</summary>
public class BackoffScheduleTests
{
    private static Driver CrashLooper(int maxRestarts = 10) => new(s => s with
    {
        RestartDelay = TimeSpan.FromMilliseconds(100),
        MaxRestartDelay = TimeSpan.FromSeconds(1),
        MaxRestarts = maxRestarts,
        MinUptime = TimeSpan.FromSeconds(2),
    });

    /// <summary>Runs the app until it is errored; returns the backoff delays in order.</summary>
    private static List<TimeSpan> RunUntilErrored(Driver d, int limit = 1000)
    {
        var delays = new List<TimeSpan>();
        d.Start();
        for (var i = 0; i < limit; i++)
        {
            d.Commands.Should().ContainSingle().Which.Should().BeOfType<Launch>();
            d.Status.Should().Be(InstanceStatus.Starting);
            d.Spawn(1000 + i).AdvanceMs(50).Exit(1);
            if (d.Status == InstanceStatus.Errored)
            {
                d.Commands.Should().BeEmpty("an errored instance arms no timer");
                return delays;
            }
            d.Status.Should().Be(InstanceStatus.Backoff);
            var timer = d.TimerCommand();
            timer.Kind.Should().Be(TimerKind.Backoff);
            timer.Generation.Should().Be(d.State.Generation);
            d.State.BackoffDelay.Should().Be(timer.Delay);
            delays.Add(timer.Delay);
            d.Advance(timer.Delay).Send(new TimerFired(TimerKind.Backoff, timer.Generation));
        }
        throw new InvalidOperationException("the app never became errored");
    }

    [Fact]
    public void Crash_loop_follows_the_doubling_schedule_then_gives_up_after_max_restarts_plus_one_starts()
    {
        var d = CrashLooper();

        var delays = RunUntilErrored(d);

        delays.Select(x => x.TotalMilliseconds).Should().Equal(100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000);
        d.State.Starts.Should().Be(11);
        d.State.Restarts.Should().Be(10);
        d.State.UnstableRuns.Should().Be(11);
        d.State.Pid.Should().BeNull();
        d.State.LastExit.Should().Be(new ExitInfo(1, null, ExitReasons.Crash, d.Now));
        d.History.OfType<Launch>().Should().HaveCount(11);
        d.History.OfType<SignalTree>().Should().BeEmpty("nothing is killed in a crash loop");
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(3, 4)]
    [InlineData(10, 11)]
    public void Unstable_runs_beyond_max_restarts_leave_the_instance_errored(int maxRestarts, int expectedStarts)
    {
        var d = CrashLooper(maxRestarts);

        var delays = RunUntilErrored(d);

        d.Status.Should().Be(InstanceStatus.Errored);
        delays.Should().HaveCount(maxRestarts);
        d.State.Starts.Should().Be(expectedStarts);
        d.State.Restarts.Should().Be(maxRestarts);
    }

    [Fact]
    public void Crashing_app_is_restarted_with_growing_delay()
    {
        var d = CrashLooper().Start().Spawn();

        d.AdvanceMs(10).Exit(1);
        d.TimerCommand().Delay.Should().Be(TimeSpan.FromMilliseconds(100));
        d.State.UnstableRuns.Should().Be(1);

        d.Fire(TimerKind.Backoff).Spawn().AdvanceMs(10).Exit(1);
        d.TimerCommand().Delay.Should().Be(TimeSpan.FromMilliseconds(200));
        d.State.UnstableRuns.Should().Be(2);

        d.Fire(TimerKind.Backoff).Spawn().AdvanceMs(10).Exit(1);
        d.TimerCommand().Delay.Should().Be(TimeSpan.FromMilliseconds(400));
        d.State.UnstableRuns.Should().Be(3);
        d.State.Restarts.Should().Be(2);
        d.State.Starts.Should().Be(3);
    }

    [Fact]
    public void Stable_run_resets_the_backoff()
    {
        var d = CrashLooper().Start();
        for (var i = 0; i < 4; i++) d.Spawn().AdvanceMs(10).Exit(1).Fire(TimerKind.Backoff);
        d.State.UnstableRuns.Should().Be(4);

        d.Spawn().Advance(TimeSpan.FromMinutes(5)).Exit(1);

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.UnstableRuns.Should().Be(0);
        d.TimerCommand().Delay.Should().Be(TimeSpan.Zero, "a stable run restarts at once");

        d.Fire(TimerKind.Backoff).Spawn().AdvanceMs(10).Exit(1);
        d.State.UnstableRuns.Should().Be(1);
        d.TimerCommand().Delay.Should().Be(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void A_run_of_exactly_min_uptime_is_stable()
    {
        var d = CrashLooper().Start().Spawn().AdvanceMs(10).Exit(1).Fire(TimerKind.Backoff);

        d.Spawn().Advance(TimeSpan.FromSeconds(2)).Exit(1);

        d.State.UnstableRuns.Should().Be(0);
    }

    [Fact]
    public void A_run_just_under_min_uptime_is_unstable()
    {
        var d = CrashLooper().Start();

        d.Spawn().Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromTicks(1)).Exit(1);

        d.State.UnstableRuns.Should().Be(1);
    }

    [Fact]
    public void Stable_runs_restart_forever()
    {
        var d = CrashLooper(maxRestarts: 2).Start();

        for (var i = 0; i < 20; i++) d.Spawn().Advance(TimeSpan.FromSeconds(3)).Exit(1).Fire(TimerKind.Backoff);

        d.Status.Should().Be(InstanceStatus.Starting);
        d.State.Restarts.Should().Be(20);
        d.State.Starts.Should().Be(21);
    }

    [Fact]
    public void Uptime_is_measured_from_spawn_not_from_the_start_request()
    {
        var d = CrashLooper().Start();

        // The launch itself took long; the process then lived only 100 ms.
        d.Advance(TimeSpan.FromSeconds(10)).Spawn().AdvanceMs(100).Exit(1);

        d.State.UnstableRuns.Should().Be(1);
    }

    [Fact]
    public void Uptime_ends_when_the_process_was_found_ended_not_when_its_end_is_handled()
    {
        var d = CrashLooper().Start().Spawn().AdvanceMs(500);
        var endedAt = d.Now;

        // Its end reached the machine 5 s later (its logs flushed on a loaded disk, or the daemon was being replaced).
        d.Advance(TimeSpan.FromSeconds(5)).Send(new Exited(1, null, At: endedAt));

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.UnstableRuns.Should().Be(1, "it ran 500 ms, under min_uptime");
        d.State.LastExit!.At.Should().Be(endedAt);
    }

    [Fact]
    public void The_backoff_goes_on_across_late_ends()
    {
        var d = CrashLooper().Start();
        for (var i = 0; i < 4; i++)
        {
            d.Spawn().AdvanceMs(100);
            var endedAt = d.Now;
            d.Advance(TimeSpan.FromSeconds(3)).Send(new Exited(1, null, At: endedAt)).Fire(TimerKind.Backoff);
        }

        d.State.UnstableRuns.Should().Be(4);
    }

    [Fact]
    public void An_end_dated_in_the_future_or_before_the_spawn_is_taken_as_handled_or_at_the_spawn()
    {
        var late = CrashLooper().Start().Spawn().Advance(TimeSpan.FromSeconds(3));
        late.Send(new Exited(1, null, At: late.Now + TimeSpan.FromMinutes(1)));
        late.State.UnstableRuns.Should().Be(0, "an end after now is taken as now: it ran 3 s");
        late.State.LastExit!.At.Should().Be(late.Now);

        var early = CrashLooper().Start().Spawn().Advance(TimeSpan.FromSeconds(3));
        early.Send(new Exited(1, null, At: Driver.T0 - TimeSpan.FromHours(1)));
        early.State.UnstableRuns.Should().Be(1, "an end before the spawn is taken as the spawn");
        early.State.LastExit!.At.Should().Be(Driver.T0);
    }
}
