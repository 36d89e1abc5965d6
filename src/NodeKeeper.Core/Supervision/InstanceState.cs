namespace NodeKeeper.Core.Supervision;

/// <summary>Why a process is being taken down, and what follows when it has exited.</summary>
public enum StopIntent { Stop, Restart }

/// <summary>Everything the machine knows about one instance. Immutable.</summary>
/// <param name="Generation">Bumped on every transition; timers armed in an older generation are stale.</param>
/// <param name="UnstableRuns">Unstable runs in a row (shorter than min_uptime, or never ready).</param>
/// <param name="Starts">How many times a process was launched (lets clients wait for a new one).</param>
/// <param name="Intent">Set while stopping: what happens after the exit.</param>
/// <param name="PendingReason">Set while stopping: the reason the exit will be recorded with.</param>
/// <param name="BackoffDelay">Set while in backoff: the delay being waited.</param>
/// <param name="PendingEvidence">Set while stopping for a restart that someone asked for: what they saw, for the exit.</param>
public sealed record InstanceState(
    InstanceStatus Status,
    int Generation = 0,
    int? Pid = null,
    DateTimeOffset? StartedAt = null,
    int Restarts = 0,
    int UnstableRuns = 0,
    int Starts = 0,
    ExitInfo? LastExit = null,
    StopIntent? Intent = null,
    string? PendingReason = null,
    TimeSpan? BackoffDelay = null,
    IReadOnlyList<string>? PendingEvidence = null)
{
    /// <summary>A fresh instance that has not run yet.</summary>
    public static InstanceState New => new(InstanceStatus.Stopped);

    /// <summary>True when a process of this instance exists (or is being launched).</summary>
    public bool HasProcess => Status is InstanceStatus.Starting or InstanceStatus.Online or InstanceStatus.Stopping;
}

/// <summary>A new state and the effects that go with it.</summary>
public sealed record Transition(InstanceState State, IReadOnlyList<InstanceCommand> Commands);
