using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>Timers come back as events; only the one armed by the current generation counts.</summary>
public class TimerTests
{
    [Fact]
    public void Stale_timer_is_ignored()
    {
        var d = new Driver().Online().AdvanceMs(10).Exit(1);
        var first = d.Armed(TimerKind.Backoff);
        d.Fire(TimerKind.Backoff).Spawn().AdvanceMs(10).Exit(1);
        var before = d.State;

        d.Send(new TimerFired(TimerKind.Backoff, first.Generation));

        d.State.Should().Be(before);
        d.Commands.Should().BeEmpty();
        d.State.Starts.Should().Be(2);
    }

    [Theory]
    [InlineData(TimerKind.Backoff)]
    [InlineData(TimerKind.Kill)]
    [InlineData(TimerKind.ListenTimeout)]
    public void Timer_from_the_future_or_past_generation_is_ignored_in_every_state(TimerKind kind)
    {
        var drivers = new[]
        {
            new Driver(),                                                                   // stopped
            new Driver(s => s with { Ready = ReadyMode.Listen, Port = 1 }).Start().Spawn(), // starting
            new Driver().Online(),                                                          // online
            new Driver().Online().Stop(),                                                   // stopping
            new Driver().Online().Exit(1),                                                  // backoff
            new Driver(s => s with { MaxRestarts = 0 }).Online().Exit(1),                   // errored
        };
        foreach (var d in drivers)
        {
            var before = d.State;
            d.Send(new TimerFired(kind, before.Generation - 1));
            d.State.Should().Be(before);
            d.Commands.Should().BeEmpty();
            d.Send(new TimerFired(kind, before.Generation + 1));
            d.State.Should().Be(before);
            d.Commands.Should().BeEmpty();
        }
    }

    [Fact]
    public void Timer_of_the_wrong_kind_is_ignored()
    {
        var d = new Driver().Online().Exit(1);
        var before = d.State;

        d.Send(new TimerFired(TimerKind.Kill, before.Generation));
        d.Send(new TimerFired(TimerKind.ListenTimeout, before.Generation));

        d.State.Should().Be(before);
        d.Commands.Should().BeEmpty();
    }

    [Fact]
    public void Kill_timer_while_online_is_ignored()
    {
        var d = new Driver().Online();
        var before = d.State;

        d.Send(new TimerFired(TimerKind.Kill, before.Generation));

        d.State.Should().Be(before);
        d.Commands.Should().BeEmpty();
    }

    [Fact]
    public void Every_armed_timer_carries_the_generation_of_the_state_it_was_armed_in()
    {
        var d = new Driver(s => s with { Ready = ReadyMode.Listen, Port = 1 });

        d.Start().Spawn();
        d.Armed(TimerKind.ListenTimeout).Generation.Should().Be(d.State.Generation);
        d.Fire(TimerKind.ListenTimeout);
        d.Armed(TimerKind.Kill).Generation.Should().Be(d.State.Generation);
        d.Exit(null, "SIGTERM");
        d.Armed(TimerKind.Backoff).Generation.Should().Be(d.State.Generation);
    }

    [Fact]
    public void Every_state_change_moves_to_a_new_generation()
    {
        var d = new Driver(s => s with { Ready = ReadyMode.Message });
        var seen = new List<int> { d.State.Generation };

        d.Start(); seen.Add(d.State.Generation);
        d.Spawn(); seen.Add(d.State.Generation);
        d.Ready(); seen.Add(d.State.Generation);
        d.AdvanceMs(10).Exit(1); seen.Add(d.State.Generation);
        d.Fire(TimerKind.Backoff); seen.Add(d.State.Generation);
        d.Spawn(); seen.Add(d.State.Generation);
        d.Stop(); seen.Add(d.State.Generation);
        d.Exit(0); seen.Add(d.State.Generation);

        seen.Should().OnlyHaveUniqueItems().And.BeInAscendingOrder();
    }
}
