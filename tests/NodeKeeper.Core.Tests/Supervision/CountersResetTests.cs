using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>`nk reset`: the counts start again from 0, and nothing else about the instance changes.</summary>
public class CountersResetTests
{
    [Fact]
    public void Reset_zeroes_restarts_and_unstable_runs_and_keeps_status_pid_and_last_exit()
    {
        // Two quick crashes: unstable runs in a row, restarted after backoff.
        var d = new Driver(s => s with { MaxRestarts = 5 }).Online(100).Exit(1).Fire(TimerKind.Backoff).Spawn(101).Exit(1);
        d.State.UnstableRuns.Should().Be(2);
        d.State.Restarts.Should().Be(1);
        var before = d.State;

        d.Send(new CountersReset());

        d.State.Should().Be(before with { Restarts = 0, UnstableRuns = 0 });
        d.Commands.Should().BeEmpty("a reset signals and starts nothing");
    }
}
