using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

/// <summary>
/// Drives one <see cref="InstanceMachine"/> by hand: holds the spec, the state and a clock that only
/// moves when a test moves it, and remembers the timers the machine armed so they can be fired back.
/// </summary>
internal sealed class Driver
{
    public static readonly DateTimeOffset T0 = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly Dictionary<TimerKind, StartTimer> _armed = [];

    public Driver(Func<AppSpec, AppSpec>? configure = null)
    {
        Spec = configure is null ? BaseSpec() : configure(BaseSpec());
    }

    public AppSpec Spec { get; }
    public InstanceState State { get; private set; } = InstanceState.New;
    public DateTimeOffset Now { get; private set; } = T0;

    /// <summary>The commands of the last transition.</summary>
    public IReadOnlyList<InstanceCommand> Commands { get; private set; } = [];

    /// <summary>Every command emitted since the driver was made, in order.</summary>
    public List<InstanceCommand> History { get; } = [];

    public InstanceStatus Status => State.Status;

    /// <summary>The smallest spec the machine needs; every restart key at its SPEC default.</summary>
    public static AppSpec BaseSpec() => new()
    {
        Name = "t",
        Script = "/x.js",
        Cwd = "/",
        Log = new LogSpec("/o", "/e", 10 << 20, 5, false),
    };

    public Driver Send(InstanceEvent e)
    {
        var t = InstanceMachine.Handle(State, e, Spec, Now);
        State = t.State;
        Commands = t.Commands;
        History.AddRange(t.Commands);
        foreach (var timer in t.Commands.OfType<StartTimer>()) _armed[timer.Kind] = timer;
        return this;
    }

    public Driver Advance(TimeSpan by)
    {
        Now += by;
        return this;
    }

    public Driver AdvanceMs(double ms) => Advance(TimeSpan.FromMilliseconds(ms));

    public Driver Start() => Send(new StartRequested());

    public Driver Spawn(int pid = 4242) => Send(new Spawned(pid));

    public Driver Ready() => Send(new ReadyReported());

    public Driver Exit(int? code, string? signal = null, string? reason = null) => Send(new Exited(code, signal, reason is null ? null : new ExitDiagnosis(reason, null, [])));

    public Driver Stop() => Send(new StopRequested());

    public Driver Restart(string reason = ExitReasons.Restart) => Send(new RestartRequested(reason));

    /// <summary>Started and online (ready = spawn), with the clock at the moment it spawned.</summary>
    public Driver Online(int pid = 4242)
    {
        Start().Spawn(pid);
        State.Status.Should().Be(InstanceStatus.Online);
        return this;
    }

    /// <summary>The timer of this kind the machine armed last.</summary>
    public StartTimer Armed(TimerKind kind) =>
        _armed.TryGetValue(kind, out var t) ? t : throw new InvalidOperationException($"no {kind} timer was armed");

    /// <summary>Lets the last armed timer of this kind run out: the clock moves by its delay and it fires.</summary>
    public Driver Fire(TimerKind kind)
    {
        var t = Armed(kind);
        return Advance(t.Delay).Send(new TimerFired(kind, t.Generation));
    }

    /// <summary>The single timer command of the last transition.</summary>
    public StartTimer TimerCommand() => Commands.OfType<StartTimer>().Should().ContainSingle().Subject;
}
