namespace NodeKeeper.Core.Supervision;

/// <summary>The one-word causes of an exit that `last_exit.reason` carries (SPEC.md).</summary>
public static class ExitReasons
{
    public const string Crash = "crash";
    public const string Signal = "signal";
    public const string OomHeap = "oom_heap";
    public const string OomKernel = "oom_kernel";
    public const string Emfile = "emfile";
    public const string EaddrInUse = "eaddrinuse";
    public const string MaxMemory = "max_memory";
    public const string Health = "health";
    public const string NotReady = "not_ready";
    public const string ModuleNotFound = "module_not_found";
    public const string Stopped = "stopped";
    public const string Watch = "watch";
    public const string Exit = "exit";
    /// <summary>Asked to restart (`nk restart`, a changed config).</summary>
    public const string Restart = "restart";
    /// <summary>Restarted (or started again) at a time of its cron_restart.</summary>
    public const string Cron = "cron";

    /// <summary>
    /// Exits the user or NodeKeeper asked for (stop, restart, watch): not causes for `nk why` to explain, nor failures
    /// of a new version for a reload's guards.
    /// </summary>
    public static bool IsAsked(string reason) => reason is Stopped or Restart or Watch or Cron;

    /// <summary>Reasons that mean the app failed (they go through the restart policy).</summary>
    public static bool IsFailure(string reason) => reason is NotReady or MaxMemory or Health;
}

/// <summary>How and why a process ended.</summary>
public sealed record ExitInfo(int? Code, string? Signal, string Reason, DateTimeOffset At);
