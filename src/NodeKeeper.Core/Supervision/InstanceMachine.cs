using NodeKeeper.Core.Config;
using NodeKeeper.Core.Diagnosis;

namespace NodeKeeper.Core.Supervision;

/// <summary>The pure transition function of one instance: (state, event, spec, now) -> (state, commands).</summary>
public static class InstanceMachine
{
    private static readonly IReadOnlyList<InstanceCommand> None = [];

    public static Transition Handle(InstanceState s, InstanceEvent e, AppSpec spec, DateTimeOffset now) => (s.Status, e) switch
    {
        (InstanceStatus.Stopped or InstanceStatus.Errored, StartRequested) => Launch(s with { UnstableRuns = 0 }, countRestart: false),

        (InstanceStatus.Starting, Spawned sp) => OnSpawned(s, sp, spec, now),
        (InstanceStatus.Starting, SpawnFailed f) => AfterExit(s, new ExitInfo(null, null, f.Reason ?? ExitReasons.Crash, now), spec, now),
        (InstanceStatus.Starting, ReadyReported) => Next(s with { Status = InstanceStatus.Online }),
        (InstanceStatus.Starting, TimerFired { Kind: TimerKind.ListenTimeout } t) when t.Generation == s.Generation && spec.NotReady == NotReadyAction.Online
            => Next(s with { Status = InstanceStatus.Online }),
        (InstanceStatus.Starting, TimerFired { Kind: TimerKind.ListenTimeout } t) when t.Generation == s.Generation
            => BeginStop(s, StopIntent.Restart, ExitReasons.NotReady, spec,
                NotReadyEvidence(spec, t.Detail)),

        (InstanceStatus.Starting or InstanceStatus.Online, Exited x) => OnUnexpectedExit(s, x, spec, EndOf(s, x, now)),
        (InstanceStatus.Starting or InstanceStatus.Online, StopRequested) => BeginStop(s, StopIntent.Stop, ExitReasons.Stopped, spec),
        (InstanceStatus.Starting or InstanceStatus.Online, RestartRequested r) => BeginStop(s, StopIntent.Restart, r.Reason, spec, r.Evidence),

        // A launch that a stop overtook: keep the pid (the stop's signal reached it), or end the stop if it never ran.
        (InstanceStatus.Stopping, Spawned sp) => Same(s with { Pid = sp.Pid, StartedAt = now }),
        (InstanceStatus.Stopping, SpawnFailed) => OnRequestedExit(s, new Exited(null, null), spec, now),

        (InstanceStatus.Stopping, Exited x) => OnRequestedExit(s, x, spec, EndOf(s, x, now)),
        (InstanceStatus.Stopping, StopRequested) => Same(s with { Intent = StopIntent.Stop, PendingReason = ExitReasons.Stopped, PendingEvidence = null }),
        // Only the user overrides a stop or wakes a stopped app; max_memory, health and watch act on running ones.
        (InstanceStatus.Stopping, RestartRequested { Reason: ExitReasons.Restart } r) when s.Intent == StopIntent.Stop
            => Same(s with { Intent = StopIntent.Restart, PendingReason = r.Reason, PendingEvidence = r.Evidence }),
        (InstanceStatus.Stopping, TimerFired { Kind: TimerKind.Kill } t) when t.Generation == s.Generation
            => new Transition(s, [new KillTree()]),

        (InstanceStatus.Backoff, TimerFired { Kind: TimerKind.Backoff } t) when t.Generation == s.Generation => Launch(s, countRestart: true),
        (InstanceStatus.Backoff, StopRequested) => Next(s with { Status = InstanceStatus.Stopped, BackoffDelay = null }),
        (InstanceStatus.Backoff or InstanceStatus.Stopped or InstanceStatus.Errored, RestartRequested { Reason: ExitReasons.Restart })
            => Launch(s with { UnstableRuns = 0 }, countRestart: true),

        (_, CountersReset) => Same(s with { Restarts = 0, UnstableRuns = 0 }),

        _ => Same(s),
    };

    private static Transition Same(InstanceState s) => new(s, None);

    /// <summary>When a run ended: when its process was found ended, never after the event is handled nor before the run began.</summary>
    private static DateTimeOffset EndOf(InstanceState s, Exited x, DateTimeOffset now)
    {
        if (x.At is not { } at || at > now) return now;
        return s.StartedAt is { } started && at < started ? started : at;
    }

    private static Transition Next(InstanceState s, params InstanceCommand[] commands) =>
        new(s with { Generation = s.Generation + 1 }, commands);

    /// <summary>What a not_ready exit tells: the timeout and mode, and what the readiness probe last heard when it heard something.</summary>
    private static IReadOnlyList<string> NotReadyEvidence(AppSpec spec, string? lastCheck)
    {
        var timeout = $"not ready within listen_timeout ({spec.ListenTimeout.TotalSeconds:0.##}s; ready = \"{spec.Ready.Word()}\")";
        return lastCheck is null ? [timeout] : [timeout, $"last check: {lastCheck}"];
    }

    private static Transition Launch(InstanceState s, bool countRestart) => Next(s with
    {
        Status = InstanceStatus.Starting,
        Pid = null,
        StartedAt = null,
        Intent = null,
        PendingReason = null,
        PendingEvidence = null,
        BackoffDelay = null,
        Starts = s.Starts + 1,
        Restarts = countRestart ? s.Restarts + 1 : s.Restarts,
    }, new Launch());

    private static Transition OnSpawned(InstanceState s, Spawned sp, AppSpec spec, DateTimeOffset now)
    {
        var started = s with { Pid = sp.Pid, StartedAt = now };
        if (spec.Ready == ReadyMode.Spawn)
            return Next(started with { Status = InstanceStatus.Online });
        var gen = s.Generation + 1;
        return new Transition(started with { Generation = gen },
            [new WatchReadiness(), new StartTimer(TimerKind.ListenTimeout, spec.ListenTimeout, gen)]);
    }

    private static Transition BeginStop(InstanceState s, StopIntent intent, string reason, AppSpec spec, IReadOnlyList<string>? evidence = null)
    {
        var gen = s.Generation + 1;
        return new Transition(
            s with { Status = InstanceStatus.Stopping, Intent = intent, PendingReason = reason, PendingEvidence = evidence, Generation = gen },
            [new SignalTree(spec.KillSignal), new StartTimer(TimerKind.Kill, spec.StopTimeout, gen)]);
    }

    private static Transition OnUnexpectedExit(InstanceState s, Exited x, AppSpec spec, DateTimeOffset now) =>
        AfterExit(s, new ExitInfo(x.Code, x.Signal, ReasonOf(x, RestartPolicy.IsFinalExit(spec, x.Code, x.Signal)), now), spec, now);

    /// <summary>
    /// The reason of an exit nobody asked for: the diagnosis's (the one classification, <see cref="ExitClassifier"/>),
    /// except that a code the app's stop_exit_codes list is its chosen way to end, not a crash.
    /// </summary>
    public static string ReasonOf(Exited x, bool chosenExit = false)
    {
        var reason = (x.Diagnosis ?? ExitClassifier.Classify(x.Code, x.Signal, "")).Reason;
        return chosenExit && reason == ExitReasons.Crash ? ExitReasons.Exit : reason;
    }

    private static Transition OnRequestedExit(InstanceState s, Exited x, AppSpec spec, DateTimeOffset now)
    {
        var exit = new ExitInfo(x.Code, x.Signal, s.PendingReason ?? ExitReasons.Stopped, now);
        var ended = s with { Pid = null, LastExit = exit, Intent = null, PendingReason = null, PendingEvidence = null };
        if (s.Intent == StopIntent.Stop)
            return Next(ended with { Status = InstanceStatus.Stopped });
        if (ExitReasons.IsFailure(exit.Reason))
            return AfterExit(s, exit, spec, now);
        return Launch(ended, countRestart: true);
    }

    /// <summary>The restart policy, applied to an exit that was not a plain stop.</summary>
    private static Transition AfterExit(InstanceState s, ExitInfo exit, AppSpec spec, DateTimeOffset now)
    {
        var ended = s with { Pid = null, LastExit = exit, Intent = null, PendingReason = null, PendingEvidence = null };
        if (!ExitReasons.IsFailure(exit.Reason) && RestartPolicy.IsFinalExit(spec, exit.Code, exit.Signal))
            return Next(ended with { Status = InstanceStatus.Stopped });

        var ran = s.StartedAt is { } at ? now - at : TimeSpan.Zero;
        var unstable = ran < spec.MinUptime || exit.Reason == ExitReasons.NotReady;
        var runs = unstable ? s.UnstableRuns + 1 : 0;
        if (unstable && runs > spec.MaxRestarts)
            return Next(ended with { Status = InstanceStatus.Errored, UnstableRuns = runs });

        var delay = RestartPolicy.Delay(spec, runs);
        var gen = s.Generation + 1;
        return new Transition(
            ended with { Status = InstanceStatus.Backoff, UnstableRuns = runs, BackoffDelay = delay, Generation = gen },
            [new StartTimer(TimerKind.Backoff, delay, gen)]);
    }
}
