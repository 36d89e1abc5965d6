namespace NodeKeeper.Core.Supervision;

/// <summary>An effect the instance actor must carry out.</summary>
public abstract record InstanceCommand;

/// <summary>Start the process.</summary>
public sealed record Launch : InstanceCommand;

/// <summary>Send a signal to the whole process tree.</summary>
public sealed record SignalTree(string Signal) : InstanceCommand;

/// <summary>SIGKILL the whole process tree.</summary>
public sealed record KillTree : InstanceCommand;

/// <summary>Arm a timer; it fires back as <see cref="TimerFired"/> with the same generation.</summary>
public sealed record StartTimer(TimerKind Kind, TimeSpan Delay, int Generation) : InstanceCommand;

/// <summary>Start watching for readiness (port or message) and report <see cref="ReadyReported"/>.</summary>
public sealed record WatchReadiness : InstanceCommand;
