using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>Starting an instance and deciding when it is online.</summary>
public class GoingOnlineTests
{
    private static Driver Waiting(ReadyMode mode = ReadyMode.Listen) => new(s => s with
    {
        Ready = mode,
        Port = 3000,
        ListenTimeout = TimeSpan.FromSeconds(10),
        MaxRestarts = 2,
    });

    [Fact]
    public void Fresh_instance_is_stopped_and_has_never_run()
    {
        var s = InstanceState.New;

        s.Status.Should().Be(InstanceStatus.Stopped);
        s.Starts.Should().Be(0);
        s.Restarts.Should().Be(0);
        s.LastExit.Should().BeNull();
        s.HasProcess.Should().BeFalse();
    }

    [Fact]
    public void Start_request_launches_the_process()
    {
        var d = new Driver().Start();

        d.Status.Should().Be(InstanceStatus.Starting);
        d.Commands.Should().Equal(new Launch());
        d.State.Starts.Should().Be(1);
        d.State.Restarts.Should().Be(0, "the first start is not a restart");
        d.State.HasProcess.Should().BeTrue();
    }

    [Fact]
    public void Ready_spawn_goes_online_at_spawn()
    {
        var d = new Driver().Start().AdvanceMs(5).Spawn(777);

        d.Status.Should().Be(InstanceStatus.Online);
        d.Commands.Should().BeEmpty();
        d.State.Pid.Should().Be(777);
        d.State.StartedAt.Should().Be(Driver.T0.AddMilliseconds(5));
    }

    [Theory]
    [InlineData(ReadyMode.Listen)]
    [InlineData(ReadyMode.Message)]
    public void Ready_listen_waits_for_ReadyReported(ReadyMode mode)
    {
        var d = Waiting(mode).Start().Spawn(777);

        d.Status.Should().Be(InstanceStatus.Starting);
        d.State.Pid.Should().Be(777);
        d.State.StartedAt.Should().Be(Driver.T0);
        d.Commands.Should().HaveCount(2);
        d.Commands[0].Should().Be(new WatchReadiness());
        d.Commands[1].Should().Be(new StartTimer(TimerKind.ListenTimeout, TimeSpan.FromSeconds(10), d.State.Generation));

        d.AdvanceMs(300).Ready();

        d.Status.Should().Be(InstanceStatus.Online);
        d.Commands.Should().BeEmpty();
        d.State.Pid.Should().Be(777);
        d.State.StartedAt.Should().Be(Driver.T0, "uptime counts from the spawn");
    }

    [Fact]
    public void Listen_timeout_after_ready_is_stale_and_ignored()
    {
        var d = Waiting().Start().Spawn().AdvanceMs(300).Ready();
        var before = d.State;

        d.Fire(TimerKind.ListenTimeout);

        d.State.Should().Be(before);
        d.Commands.Should().BeEmpty();
    }

    [Fact]
    public void With_not_ready_online_the_listen_timeout_counts_the_instance_online_as_PM2_does()
    {
        var d = new Driver(s => s with { Ready = ReadyMode.Message, ListenTimeout = TimeSpan.FromSeconds(3), NotReady = NotReadyAction.Online })
            .Start().Spawn(777);

        d.Fire(TimerKind.ListenTimeout);

        d.Status.Should().Be(InstanceStatus.Online);
        d.State.Pid.Should().Be(777);
        d.Commands.Should().BeEmpty("nothing is signalled: the process runs on");
        d.Ready();
        d.Status.Should().Be(InstanceStatus.Online, "a late ready message changes nothing");
    }

    [Fact]
    public void Ready_report_while_online_changes_nothing()
    {
        var d = new Driver().Online();
        var before = d.State;

        d.Ready();

        d.State.Should().Be(before);
        d.Commands.Should().BeEmpty();
    }

    [Fact]
    public void Listen_timeout_kills_and_counts_as_unstable()
    {
        var d = Waiting().Start().Spawn(777);

        d.Fire(TimerKind.ListenTimeout);

        d.Status.Should().Be(InstanceStatus.Stopping);
        d.Commands.Should().HaveCount(2);
        d.Commands[0].Should().Be(new SignalTree("SIGTERM"));
        // A shared-port instance drains first (drain_timeout, 10s) and then has kill_timeout (5s) until SIGKILL.
        d.Commands[1].Should().Be(new StartTimer(TimerKind.Kill, TimeSpan.FromSeconds(15), d.State.Generation));

        d.AdvanceMs(20).Exit(null, "SIGTERM");

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.UnstableRuns.Should().Be(1);
        d.State.Pid.Should().BeNull();
        d.State.LastExit.Should().Be(new ExitInfo(null, "SIGTERM", ExitReasons.NotReady, Driver.T0.AddSeconds(10).AddMilliseconds(20)));
        d.TimerCommand().Should().Be(new StartTimer(TimerKind.Backoff, TimeSpan.FromMilliseconds(100), d.State.Generation));
    }

    [Fact]
    public void Not_ready_by_health_tells_the_last_failed_check_with_the_timeout()
    {
        var d = new Driver(s => s with { Ready = ReadyMode.Health, Port = 3000, PortMode = PortMode.Increment, ListenTimeout = TimeSpan.FromSeconds(10) })
            .Start().Spawn(777);
        var t = d.Armed(TimerKind.ListenTimeout);

        d.Advance(t.Delay).Send(new TimerFired(TimerKind.ListenTimeout, t.Generation, "GET http://127.0.0.1:3000/health: HTTP 503 Service Unavailable"));

        d.Status.Should().Be(InstanceStatus.Stopping);
        d.State.PendingReason.Should().Be(ExitReasons.NotReady);
        d.State.PendingEvidence.Should().Equal(
            "not ready within listen_timeout (10s; ready = \"health\")",
            "last check: GET http://127.0.0.1:3000/health: HTTP 503 Service Unavailable");
    }

    [Fact]
    public void Not_ready_is_unstable_even_when_the_listen_timeout_is_longer_than_min_uptime()
    {
        var d = Waiting().Start().Spawn();
        d.Spec.ListenTimeout.Should().BeGreaterThan(d.Spec.MinUptime);

        d.Fire(TimerKind.ListenTimeout).Exit(null, "SIGTERM");

        d.State.UnstableRuns.Should().Be(1);
    }

    [Fact]
    public void Never_ready_app_ends_errored_with_reason_not_ready()
    {
        var d = Waiting().Start();

        for (var i = 0; i < 3; i++)
        {
            d.Spawn().Fire(TimerKind.ListenTimeout).Exit(null, "SIGTERM");
            if (d.Status == InstanceStatus.Backoff) d.Fire(TimerKind.Backoff);
        }

        d.Status.Should().Be(InstanceStatus.Errored);
        d.State.Starts.Should().Be(3);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.NotReady);
    }

    [Fact]
    public void Not_ready_app_is_retried_even_under_never_mode()
    {
        // listen_timeout is a failed start, not an exit the app chose, so the restart policy applies.
        var d = new Driver(s => s with { Ready = ReadyMode.Message, Restart = RestartMode.Never }).Start().Spawn();

        d.Fire(TimerKind.ListenTimeout).Exit(null, "SIGTERM");

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.NotReady);
    }

    [Fact]
    public void Crash_before_ready_is_a_crash_and_the_listen_timer_goes_stale()
    {
        var d = Waiting().Start().Spawn().AdvanceMs(50).Exit(1);

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.Crash);
        var before = d.State;

        d.Send(new TimerFired(TimerKind.ListenTimeout, d.Armed(TimerKind.ListenTimeout).Generation));

        d.State.Should().Be(before);
        d.Commands.Should().BeEmpty();
    }

    [Fact]
    public void Listen_timeout_of_an_earlier_run_does_not_kill_the_next_one()
    {
        var d = Waiting().Start().Spawn().AdvanceMs(50).Exit(1);
        var oldListenTimer = d.Armed(TimerKind.ListenTimeout);
        d.Fire(TimerKind.Backoff).Spawn();

        d.Send(new TimerFired(TimerKind.ListenTimeout, oldListenTimer.Generation));

        d.Status.Should().Be(InstanceStatus.Starting);
        d.Commands.Should().BeEmpty();
    }

    [Fact]
    public void Spawn_failure_counts_as_unstable_crash()
    {
        var d = new Driver().Start().AdvanceMs(3).Send(new SpawnFailed("ENOENT: node"));

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.UnstableRuns.Should().Be(1);
        d.State.LastExit.Should().Be(new ExitInfo(null, null, ExitReasons.Crash, Driver.T0.AddMilliseconds(3)));
        d.TimerCommand().Kind.Should().Be(TimerKind.Backoff);
    }

    [Fact]
    public void Repeated_spawn_failures_end_errored()
    {
        var d = new Driver(s => s with { MaxRestarts = 3 }).Start();

        for (var i = 0; i < 4; i++)
        {
            d.Send(new SpawnFailed("EACCES"));
            if (d.Status == InstanceStatus.Backoff) d.Fire(TimerKind.Backoff);
        }

        d.Status.Should().Be(InstanceStatus.Errored);
        d.State.Starts.Should().Be(4);
    }

    [Fact]
    public void Spawn_failure_under_on_failure_is_retried()
    {
        var d = new Driver(s => s with { Restart = RestartMode.OnFailure }).Start();

        d.Send(new SpawnFailed("ENOENT"));

        d.Status.Should().Be(InstanceStatus.Backoff);
    }

    [Fact]
    public void Start_request_while_running_changes_nothing()
    {
        var d = new Driver().Online();
        var before = d.State;

        d.Start();

        d.State.Should().Be(before);
        d.Commands.Should().BeEmpty();
    }
}
