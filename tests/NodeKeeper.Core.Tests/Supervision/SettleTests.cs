using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>The one rule for "has this instance settled since the command?".</summary>
public class SettleTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly ExitInfo Crash = new(1, null, ExitReasons.Crash, Now.AddMinutes(-3));

    [Theory]
    [InlineData(InstanceStatus.Stopped)]
    [InlineData(InstanceStatus.Errored)]
    [InlineData(InstanceStatus.Backoff)]
    [InlineData(InstanceStatus.Starting)]
    [InlineData(InstanceStatus.Stopping)]
    [InlineData(InstanceStatus.Online)]
    public void Nothing_has_happened_until_a_new_process_was_launched(InstanceStatus status)
    {
        // The command may still wait in the instance's mailbox: the state seen is the one from before it.
        Settle.Of(new InstanceState(status, Starts: 3, LastExit: Crash), startsBefore: 3).Outcome.Should().Be(SettleOutcome.Pending);
    }

    [Fact]
    public void Online_after_a_launch_is_ready()
    {
        Settle.Of(new InstanceState(InstanceStatus.Online, Starts: 4), startsBefore: 3).Outcome.Should().Be(SettleOutcome.Ready);
    }

    [Theory]
    [InlineData(InstanceStatus.Starting)]
    [InlineData(InstanceStatus.Stopping)]
    public void Starting_or_stopping_after_a_launch_is_still_going(InstanceStatus status)
    {
        Settle.Of(new InstanceState(status, Starts: 4), startsBefore: 3).Outcome.Should().Be(SettleOutcome.Pending);
    }

    [Theory]
    [InlineData(InstanceStatus.Backoff)]
    [InlineData(InstanceStatus.Errored)]
    [InlineData(InstanceStatus.Stopped)]
    public void Backoff_errored_or_stopped_after_a_launch_has_failed_the_command(InstanceStatus status)
    {
        var settled = Settle.Of(new InstanceState(status, Starts: 5, LastExit: Crash), startsBefore: 3);

        settled.Outcome.Should().Be(SettleOutcome.Failed);
        settled.Why(Now).Should().Be($"is {status.Wire()}, last exit: crash (code 1) 3m ago");
    }

    [Fact]
    public void A_failure_without_an_exit_says_so()
    {
        Settle.Of(new InstanceState(InstanceStatus.Stopped, Starts: 1), startsBefore: 0).Why(Now).Should().Be("is stopped, last exit: -");
    }

    [Fact]
    public void A_crash_into_backoff_fails_a_start_driven_through_the_machine()
    {
        var d = new Driver();
        var before = d.State.Starts;

        d.Start();
        Settle.Of(d.State, before).Outcome.Should().Be(SettleOutcome.Pending, "launched, not ready yet");
        d.Spawn().AdvanceMs(50).Exit(1);

        d.Status.Should().Be(InstanceStatus.Backoff);
        Settle.Of(d.State, before).Outcome.Should().Be(SettleOutcome.Failed);
    }

    [Fact]
    public void A_restart_of_an_online_instance_is_pending_through_its_stop_and_ready_once_back()
    {
        var d = new Driver().Online().AdvanceMs(5000);
        var before = d.State.Starts;

        d.Restart();
        Settle.Of(d.State, before).Outcome.Should().Be(SettleOutcome.Pending, "stopping the old process");
        d.Exit(0);
        Settle.Of(d.State, before).Outcome.Should().Be(SettleOutcome.Pending, "the new one is starting");
        d.Spawn(5151);

        Settle.Of(d.State, before).Outcome.Should().Be(SettleOutcome.Ready);
    }

    [Theory]
    [InlineData(InstanceStatus.Errored, 1, true)]
    [InlineData(InstanceStatus.Stopped, 1, true)]
    [InlineData(InstanceStatus.Stopped, 0, false)]
    [InlineData(InstanceStatus.Backoff, 1, false)]
    [InlineData(InstanceStatus.Online, 1, false)]
    [InlineData(InstanceStatus.Starting, 1, false)]
    [InlineData(InstanceStatus.Stopping, 1, false)]
    public void Down_for_nk_run_is_a_run_that_ended_and_will_not_start_again_by_itself(InstanceStatus status, int starts, bool down)
    {
        Settle.IsDown(new InstanceState(status, Starts: starts)).Should().Be(down);
    }

    [Fact]
    public void A_rolling_restart_waits_for_the_stop_the_readiness_and_five_seconds_more()
    {
        var spec = Driver.BaseSpec() with { KillTimeout = TimeSpan.FromSeconds(2), ListenTimeout = TimeSpan.FromSeconds(7) };

        Settle.Deadline(spec).Should().Be(TimeSpan.FromSeconds(14));
    }
}
