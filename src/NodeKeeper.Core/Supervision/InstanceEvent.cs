using NodeKeeper.Core.Diagnosis;

namespace NodeKeeper.Core.Supervision;

/// <summary>Something that happened to an instance, fed to <see cref="InstanceMachine"/>.</summary>
public abstract record InstanceEvent;

/// <summary>The user asked to start a stopped or errored instance.</summary>
public sealed record StartRequested : InstanceEvent;

/// <summary>The process was launched.</summary>
public sealed record Spawned(int Pid) : InstanceEvent;

/// <summary>The process could not be launched at all; Reason classifies why (default crash).</summary>
public sealed record SpawnFailed(string Error, string? Reason = null) : InstanceEvent;

/// <summary>The instance became ready (it listens, or said 'ready').</summary>
public sealed record ReadyReported : InstanceEvent;

/// <summary>
/// The process ended, with the diagnosis of its end (<see cref="ExitClassifier"/>: reason, cause and evidence from its
/// stderr). Null only where there is no stderr to read (a unit test): the machine then classifies the status alone.
/// <paramref name="At"/>: when the process was found ended (before its tree was ended and its logs flushed, which can
/// take seconds on a loaded machine); the run's length, which decides whether it was stable, ends there. Null: when the
/// event is handled.
/// </summary>
public sealed record Exited(int? Code, string? Signal, ExitDiagnosis? Diagnosis = null, DateTimeOffset? At = null) : InstanceEvent;

/// <summary>The user asked to stop.</summary>
public sealed record StopRequested : InstanceEvent;

/// <summary>
/// Something asked for a graceful restart (user, max_memory, health, watch); Evidence says what it saw (the failed
/// checks, the memory figure), recorded with the exit this restart causes.
/// </summary>
public sealed record RestartRequested(string Reason, IReadOnlyList<string>? Evidence = null) : InstanceEvent;

/// <summary>`nk reset`: the counters of restarts and of unstable runs in a row start again from 0.</summary>
public sealed record CountersReset : InstanceEvent;

/// <summary>A timer armed by <see cref="StartTimer"/> ran out; <paramref name="Detail"/>, for listen_timeout, is what the
/// readiness probe last heard (ready = "health": the last failed check), told with the not_ready exit.</summary>
public sealed record TimerFired(TimerKind Kind, int Generation, string? Detail = null) : InstanceEvent;

/// <summary>What a timer is for.</summary>
public enum TimerKind { Backoff, Kill, ListenTimeout }
