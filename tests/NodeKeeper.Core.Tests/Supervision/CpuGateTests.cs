using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public sealed class CpuGateTests
{
    /// <summary>A clock moved by hand; its timers never fire (the tests call Check themselves).</summary>
    private sealed class HandClock : TimeProvider
    {
        public long Now;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Now;
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Never();
        public void Advance(TimeSpan by) => Now += by.Ticks;
        private sealed class Never : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;
            public void Dispose() { }
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    private readonly HandClock _clock = new();
    private readonly Dictionary<int, long?> _cpu = [];
    private readonly List<string> _granted = [];

    private CpuGate Gate(int width) => new(width, pid => _cpu.GetValueOrDefault(pid), _clock);

    private CpuGate.Ticket Ask(CpuGate gate, string name) => gate.Request(_ => _granted.Add(name));

    [Fact]
    public void A_lone_request_is_granted_at_once_and_the_rest_wait_their_turn_first_come_first_served()
    {
        var gate = Gate(2);
        var a = Ask(gate, "a");
        _granted.Should().Equal(["a"], "nothing holds it up: granted before Request returns");
        var b = Ask(gate, "b");
        var c = Ask(gate, "c");
        var d = Ask(gate, "d");
        _granted.Should().Equal("a", "b");
        (gate.Holding, gate.Waiting).Should().Be((2, 2));
        c.IsGranted.Should().BeFalse();

        gate.Release(a);
        _granted.Should().Equal("a", "b", "c");
        gate.Release(a);
        _granted.Should().Equal(["a", "b", "c"], "a second release of the same slot frees nothing more");
        gate.Release(b);
        _granted.Should().Equal("a", "b", "c", "d");
        (gate.Holding, gate.Waiting).Should().Be((2, 0));
        d.IsGranted.Should().BeTrue();
    }

    [Fact]
    public void A_storm_begins_when_a_request_has_to_wait_and_the_holders_hear_of_it_once()
    {
        var gate = Gate(2);
        var stormed = new List<string>();
        CpuGate.Ticket Storming(string name) => gate.Request(_ => _granted.Add(name), _ => stormed.Add(name));
        var a = Storming("a");
        var b = Storming("b");
        a.Storm.Should().BeFalse("two requests fit in two slots: no storm");
        b.Storm.Should().BeFalse();
        stormed.Should().BeEmpty();

        var c = Storming("c");
        c.Storm.Should().BeTrue("it has to wait");
        stormed.Should().Equal(["a", "b"], "the holders learn of the storm when the first request has to wait");
        var d = Storming("d");
        stormed.Should().Equal(["a", "b"], "once each");
        gate.Release(a);
        _granted.Should().Equal("a", "b", "c");
        c.Storm.Should().BeTrue();
        d.Storm.Should().BeTrue();

        // Once the storm is over, a request that fits is not part of one.
        foreach (var t in new[] { b, c, d }) gate.Release(t);
        Storming("e").Storm.Should().BeFalse();
        stormed.Should().Equal(["a", "b"]);
    }

    [Fact]
    public void A_withdrawn_request_is_never_granted_and_a_new_request_waits_behind_those_already_waiting()
    {
        var gate = Gate(1);
        var a = Ask(gate, "a");
        var b = Ask(gate, "b");
        Ask(gate, "c");
        gate.Release(b);
        gate.Release(a);
        _granted.Should().Equal("a", "c");
        gate.Waiting.Should().Be(0);
    }

    [Fact]
    public void A_started_process_keeps_its_slot_while_it_uses_or_waits_for_the_cpu_and_frees_it_when_idle_or_gone()
    {
        var gate = Gate(2);
        var busy = Ask(gate, "busy");
        var waiting = Ask(gate, "waits on a database");
        Ask(gate, "next");
        Ask(gate, "after");
        gate.Watch(busy, 100);
        gate.Watch(waiting, 200);
        _cpu[100] = 10;
        _cpu[200] = 50;
        gate.Check();
        _granted.Should().HaveCount(2, "a first look only notes where each process stands");

        _cpu[100] = 30;
        gate.Check();
        _granted.Should().Equal(["busy", "waits on a database", "next"], "the process that neither ran nor waited to run gave its slot away");
        busy.IsGranted.Should().BeTrue();
        waiting.IsGranted.Should().BeFalse();

        _cpu[100] = null;
        gate.Check();
        _granted.Should().Equal("busy", "waits on a database", "next", "after");
    }

    [Fact]
    public void No_slot_is_held_longer_than_most_held_and_an_unwatched_slot_is_held_until_released()
    {
        var gate = Gate(2);
        var watched = Ask(gate, "watched");
        var unwatched = Ask(gate, "unwatched");
        Ask(gate, "next");
        gate.Watch(watched, 100);
        for (long i = 0; i < 3; i++)
        {
            _cpu[100] = i;
            _clock.Advance(gate.MostHeld / 4);
            gate.Check();
        }
        _granted.Should().HaveCount(2, "it keeps running");
        _cpu[100] = 99;
        _clock.Advance(gate.MostHeld);
        gate.Check();
        _granted.Should().Equal("watched", "unwatched", "next");
        unwatched.IsGranted.Should().BeTrue("no process to look at: only a release frees it");
    }

    [Fact]
    public void A_stopping_process_keeps_its_slot_while_it_runs_and_frees_it_when_found_asleep_twice_gone_or_after_a_quarter_second()
    {
        var runnable = new Dictionary<int, bool?>();
        var gate = CpuGate.ForStops(pid => runnable.GetValueOrDefault(pid), _clock, width: 4);
        gate.CheckEvery.Should().Be(TimeSpan.FromMilliseconds(10));
        var tickets = Enumerable.Range(1, gate.Width).Select(i => Ask(gate, $"s{i}")).ToList();
        Ask(gate, "next");
        Ask(gate, "after");
        Ask(gate, "last");
        for (var i = 0; i < tickets.Count; i++)
        {
            gate.Watch(tickets[i], 100 + i);
            runnable[100 + i] = true;
        }
        for (var look = 0; look < 5; look++)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(10));
            gate.Check();
        }
        _granted.Should().HaveCount(gate.Width, "each of them is running its signal handlers: the queue stays short");

        runnable[100] = false;
        gate.Check();
        _granted.Should().HaveCount(gate.Width, "asleep at one look may be a moment's wait");
        runnable[101] = null;
        gate.Check();
        _granted.Should().HaveCount(gate.Width + 2, "asleep at two looks in a row (draining its last connections), or gone");
        _granted.Should().EndWith("after");

        _clock.Advance(CpuGate.StopMostHeld);
        gate.Check();
        _granted.Should().EndWith("last", "one that still spins after a quarter of a second lets the next go all the same");
    }

    [Fact]
    public void A_release_grants_outside_the_gate_so_a_granted_callback_may_ask_and_release_again()
    {
        CpuGate gate = null!;
        var order = new List<string>();
        gate = new CpuGate(1, _ => null, _clock);
        var first = gate.Request(_ => order.Add("first"));
        gate.Request(t => { order.Add("second"); gate.Release(t); });
        gate.Request(_ => order.Add("third"));
        gate.Release(first);
        order.Should().Equal("first", "second", "third");
        CpuGate.DefaultWidth.Should().BeGreaterThanOrEqualTo(2);
    }

    [Fact]
    public void Stops_go_one_per_core_but_one_leaving_a_core_to_the_daemon_and_nk()
    {
        var gate = CpuGate.ForStops(_ => null, _clock);
        gate.Width.Should().Be(CpuGate.StopWidth).And.BeGreaterThanOrEqualTo(1)
            .And.BeLessThan(Math.Max(2, Environment.ProcessorCount), "a node process's exit is CPU work: more at once end no sooner");
    }
}

public sealed class ReadinessDeadlineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static TimeSpan Ms(int ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void The_time_an_app_waited_for_a_cpu_is_added_to_its_listen_timeout_up_to_three_times_the_timeout()
    {
        ReadinessDeadline.Extension(Timeout, Ms(20), TimeSpan.Zero).Should().BeNull("a few milliseconds of wait are no reason to wait longer");
        ReadinessDeadline.Extension(Timeout, Ms(4000), TimeSpan.Zero).Should().Be(Ms(4000));
        ReadinessDeadline.Extension(Timeout, Ms(4000), Ms(4000)).Should().BeNull("made up for already: the app had its time");
        ReadinessDeadline.Extension(Timeout, Ms(6500), Ms(4000)).Should().Be(Ms(2500), "it kept waiting during the extension");
        ReadinessDeadline.Extension(Timeout, Ms(50_000), Ms(25_000)).Should().Be(Ms(5000), "never more than 3 x listen_timeout in all");
        ReadinessDeadline.Extension(Timeout, Ms(50_000), Ms(30_000)).Should().BeNull();
    }
}
