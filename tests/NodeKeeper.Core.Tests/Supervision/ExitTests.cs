using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>Exits nobody asked for: how they are recorded and whether the restart policy applies.</summary>
public class ExitTests
{
    [Fact]
    public void Crash_records_code_reason_and_time_and_schedules_a_restart()
    {
        var d = new Driver().Online(4242).AdvanceMs(700).Exit(1);

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.Pid.Should().BeNull();
        d.State.HasProcess.Should().BeFalse();
        d.State.LastExit.Should().Be(new ExitInfo(1, null, ExitReasons.Crash, Driver.T0.AddMilliseconds(700)));
        d.Commands.Should().Equal(new StartTimer(TimerKind.Backoff, TimeSpan.FromMilliseconds(100), d.State.Generation));
        d.State.BackoffDelay.Should().Be(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Backoff_timer_relaunches_and_counts_a_restart()
    {
        var d = new Driver().Online().AdvanceMs(700).Exit(1);

        d.Fire(TimerKind.Backoff);

        d.Status.Should().Be(InstanceStatus.Starting);
        d.Commands.Should().Equal(new Launch());
        d.State.Restarts.Should().Be(1);
        d.State.Starts.Should().Be(2);
        d.State.BackoffDelay.Should().BeNull();
        d.State.StartedAt.Should().BeNull("the new process has not spawned yet");
        d.State.LastExit!.Reason.Should().Be(ExitReasons.Crash, "the last exit stays visible while the next run starts");
    }

    [Fact]
    public void Exit_by_signal_is_reason_signal()
    {
        var d = new Driver().Online().AdvanceMs(700).Exit(null, "SIGSEGV");

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit.Should().Be(new ExitInfo(null, "SIGSEGV", ExitReasons.Signal, Driver.T0.AddMilliseconds(700)));
    }

    [Fact]
    public void Clean_exit_under_always_is_reason_exit_and_is_restarted()
    {
        var d = new Driver().Online().AdvanceMs(700).Exit(0);

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.Exit);
        d.State.UnstableRuns.Should().Be(1, "a short run is unstable whatever its exit code");
    }

    [Fact]
    public void Reason_given_by_the_effect_side_wins_over_the_exit_status()
    {
        var d = new Driver().Online().AdvanceMs(700).Exit(134, reason: ExitReasons.OomHeap);

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit.Should().Be(new ExitInfo(134, null, ExitReasons.OomHeap, Driver.T0.AddMilliseconds(700)));
    }

    [Fact]
    public void Clean_exit_under_on_failure_with_a_stop_exit_code_is_not_restarted()
    {
        var d = new Driver(s => s with { Restart = RestartMode.OnFailure, StopExitCodes = [0, 3] }).Online().AdvanceMs(700);

        d.Exit(3);

        d.Status.Should().Be(InstanceStatus.Stopped);
        d.Commands.Should().BeEmpty();
        d.State.Pid.Should().BeNull();
        d.State.LastExit.Should().Be(new ExitInfo(3, null, ExitReasons.Exit, Driver.T0.AddMilliseconds(700)));
        d.State.Restarts.Should().Be(0);
    }

    [Fact]
    public void Failing_exit_under_on_failure_is_restarted()
    {
        var d = new Driver(s => s with { Restart = RestartMode.OnFailure }).Online().AdvanceMs(700).Exit(2);

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.Crash);
    }

    [Fact]
    public void Death_by_signal_under_on_failure_is_restarted()
    {
        var d = new Driver(s => s with { Restart = RestartMode.OnFailure }).Online().AdvanceMs(700).Exit(null, "SIGKILL");

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.Signal);
    }

    [Fact]
    public void Clean_exit_under_on_failure_is_restarted_when_zero_is_not_a_stop_exit_code()
    {
        var d = new Driver(s => s with { Restart = RestartMode.OnFailure, StopExitCodes = [3] }).Online().AdvanceMs(700).Exit(0);

        d.Status.Should().Be(InstanceStatus.Backoff);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.Exit);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Never_mode_leaves_the_app_stopped_with_reason_exit(int code)
    {
        // SPEC: "An app whose process exits and is not restarted (restart = "never", ...) is stopped, with last_exit.reason = "exit"".
        var d = new Driver(s => s with { Restart = RestartMode.Never }).Online().AdvanceMs(700);

        d.Exit(code);

        d.Status.Should().Be(InstanceStatus.Stopped);
        d.Commands.Should().BeEmpty();
        d.State.LastExit.Should().Be(new ExitInfo(code, null, ExitReasons.Exit, Driver.T0.AddMilliseconds(700)));
        d.State.Restarts.Should().Be(0);
        d.State.Starts.Should().Be(1);
    }

    [Fact]
    public void Never_mode_keeps_signal_as_the_reason_of_a_death_by_signal()
    {
        var d = new Driver(s => s with { Restart = RestartMode.Never }).Online().AdvanceMs(700).Exit(null, "SIGKILL");

        d.Status.Should().Be(InstanceStatus.Stopped);
        d.State.LastExit!.Reason.Should().Be(ExitReasons.Signal);
    }

    [Fact]
    public void Stopped_by_its_own_choice_app_starts_again_on_request_without_counting_a_restart()
    {
        var d = new Driver(s => s with { Restart = RestartMode.Never }).Online().AdvanceMs(700).Exit(0);

        d.Start();

        d.Status.Should().Be(InstanceStatus.Starting);
        d.Commands.Should().Equal(new Launch());
        d.State.Starts.Should().Be(2);
        d.State.Restarts.Should().Be(0);
    }

    [Fact]
    public void Exit_while_in_backoff_or_stopped_is_ignored()
    {
        var d = new Driver().Online().AdvanceMs(700).Exit(1);
        var backoff = d.State;

        d.Exit(9);
        d.State.Should().Be(backoff);
        d.Commands.Should().BeEmpty();

        d.Stop();
        var stopped = d.State;
        d.Exit(9);
        d.State.Should().Be(stopped);
        d.Commands.Should().BeEmpty();
    }

    [Theory]
    [InlineData(0, null, false, ExitReasons.Exit)]
    [InlineData(1, null, false, ExitReasons.Crash)]
    [InlineData(1, null, true, ExitReasons.Exit)]
    [InlineData(null, "SIGTERM", false, ExitReasons.Signal)]
    [InlineData(null, "SIGTERM", true, ExitReasons.Signal)]
    [InlineData(null, null, false, ExitReasons.Crash)]
    public void Exit_status_is_classified_into_one_word(int? code, string? signal, bool chosen, string reason)
    {
        InstanceMachine.ReasonOf(new Exited(code, signal), chosen).Should().Be(reason);
    }
}
