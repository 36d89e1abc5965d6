using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// Waits for the daemon's children: the apps it spawned (<see cref="Launcher.Start"/>) and the ones an earlier image
/// left it across `nk update`, each with its exit status; and reaps processes reparented to the daemon (it is a child
/// subreaper). A child .NET started itself (System.Diagnostics.Process) is never waited for here.
/// </summary>
public static class OrphanReaper
{
    private static readonly ConcurrentDictionary<int, TaskCompletionSource<int>> Adopted = new();
    private static readonly int Self = Environment.ProcessId;

    /// <summary>Held while a child is being spawned, so a fresh child is registered before anyone may reap it.</summary>
    public static readonly Lock SpawnLock = new();

    /// <summary>
    /// Takes on a child of the daemon's that .NET does not know (one spawned by <see cref="Launcher.Start"/>, under
    /// SpawnLock, or one an earlier image of this daemon started before `nk update`): its end is waited for here, on
    /// SIGCHLD. Completes with its exit code, 128 + the signal that ended it, or -1 when its status was taken before the
    /// exec.
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
            if (pid <= 1 || Adopted.ContainsKey(pid)) return;
            if (ProcStat.Read(pid) is { IsZombie: true } st && st.Ppid == Self) Native.TryReap(pid);
        }
    }
}
