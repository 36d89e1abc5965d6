using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// Reaps processes reparented to the daemon (it is a child subreaper). .NET reaps only the children it started,
/// so those are registered here and never touched: waitpid on them would steal their exit status.
/// </summary>
public static class OrphanReaper
{
    private static readonly ConcurrentDictionary<int, byte> Launched = new();
    private static readonly ConcurrentDictionary<int, TaskCompletionSource<int>> Adopted = new();
    private static readonly int Self = Environment.ProcessId;

    /// <summary>Held while a child is being spawned, so a fresh child is registered before anyone may reap it.</summary>
    public static readonly Lock SpawnLock = new();

    /// <summary>Marks a pid as .NET's own child (call under SpawnLock, right after the start).</summary>
    public static void RegisterLaunched(int pid) => Launched[pid] = 0;

    /// <summary>Forgets a child .NET has reaped.</summary>
    public static void ForgetLaunched(int pid) => Launched.TryRemove(pid, out _);

    /// <summary>
    /// Takes on a child an earlier image of this daemon started (`nk update`): .NET does not know it, so its end is
    /// waited for here, on SIGCHLD. Completes with its exit code, 128 + the signal that ended it, or -1 when its status
    /// was taken before the exec.
    /// </summary>
    public static Task<int> Adopt(int pid)
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Adopted[pid] = done;
        // It may have ended during the exec, when no handler heard its SIGCHLD.
        CollectAdopted();
        return done.Task;
    }

    private static void CollectAdopted()
    {
        foreach (var (pid, done) in Adopted)
            if (Native.TryWaitChild(pid) is { } status && Adopted.TryRemove(pid, out _))
                done.TrySetResult(status);
    }

    /// <summary>Reaps every zombie orphan of the daemon (its children are listed in /proc/self/task/*/children).</summary>
    public static void ReapAll()
    {
        if (!Adopted.IsEmpty) CollectAdopted();
        foreach (var pid in ProcChildren.OfDaemon())
            if (ProcStat.Read(pid) is { IsZombie: true }) Reap(pid);
    }

    /// <summary>
    /// Reaps orphans as soon as SIGCHLD says a child ended, so an app's grandchild is no zombie for seconds (the
    /// sampler's pass stays as a backstop). .NET goes on reaping its own children after this handler runs.
    /// </summary>
    public static IDisposable ReapOnSigchld() => PosixSignalRegistration.Create(PosixSignal.SIGCHLD, _ => ReapAll());

    /// <summary>Reaps one pid if it is a zombie orphan of the daemon.</summary>
    public static void Reap(int pid)
    {
        lock (SpawnLock)
        {
            if (pid <= 1 || Launched.ContainsKey(pid) || Adopted.ContainsKey(pid)) return;
            if (ProcStat.Read(pid) is { IsZombie: true } st && st.Ppid == Self) Native.TryReap(pid);
        }
    }
}
