namespace NodeKeeper.Daemon.Processes;

/// <summary>A process identity that survives pid reuse: the pid and its start time.</summary>
public readonly record struct ProcessId(int Pid, long StartTime)
{
    /// <summary>True when this very process still runs (not a zombie, not a new process with the same pid).</summary>
    public bool IsAlive() => ProcStat.Read(Pid) is { } st && st.StartTime == StartTime && !st.IsZombie;
}

/// <summary>Signals and ends a supervised process tree: the app, its group, its descendants, and the members seen earlier.</summary>
public static class ProcessTree
{
    private static readonly int Self = Environment.ProcessId;

    /// <summary>Every live member of root's tree, plus the known earlier members that still run.</summary>
    public static List<ProcessId> Members(int root, IEnumerable<ProcessId> known)
    {
        var snap = ProcSnapshot.Take();
        return Live(snap.TreeOf(root), known, k => snap.ByPid.TryGetValue(k.Pid, out var st) && st.StartTime == k.StartTime && !st.IsZombie);
    }

    /// <summary>The live processes of a tree other than the daemon and pid 1, and the known ones <paramref name="alive"/> says still run.</summary>
    private static List<ProcessId> Live(IEnumerable<ProcStat> tree, IEnumerable<ProcessId> known, Func<ProcessId, bool> alive)
    {
        var result = new Dictionary<int, ProcessId>();
        foreach (var st in tree)
            if (!st.IsZombie && st.Pid > 1 && st.Pid != Self) result[st.Pid] = new ProcessId(st.Pid, st.StartTime);
        foreach (var k in known)
            if (!result.ContainsKey(k.Pid) && k.Pid > 1 && k.Pid != Self && alive(k))
                result[k.Pid] = k;
        return [.. result.Values];
    }

    /// <summary>
    /// Live processes whose environment carries NODEKEEPER_HOME=<paramref name="home"/> and NK_APP=one of
    /// <paramref name="apps"/>: instances a daemon of this home launched, and what they spawned (the variables are
    /// inherited). This daemon and its ancestors are never among them. Processes whose environment cannot be read
    /// (another user's, without root) are not seen.
    /// </summary>
    public static List<(ProcessId Id, string App)> MarkedBy(string home, IReadOnlySet<string> apps)
    {
        var found = new List<(ProcessId, string)>();
        var skip = new HashSet<int> { Self };
        for (var p = ProcStat.Read(Self); p is { Ppid: > 1 } st && skip.Add(st.Ppid); p = ProcStat.Read(st.Ppid)) { }
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir.AsSpan()), out var pid) || pid <= 1 || skip.Contains(pid)) continue;
            if (ProcStat.Read(pid) is not { IsZombie: false } st) continue;
            byte[] environ;
            try { environ = File.ReadAllBytes($"/proc/{pid}/environ"); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { continue; }
            string? ownHome = null, app = null;
            foreach (var entry in System.Text.Encoding.UTF8.GetString(environ).Split('\0'))
            {
                if (entry.StartsWith("NODEKEEPER_HOME=", StringComparison.Ordinal)) ownHome = entry["NODEKEEPER_HOME=".Length..];
                else if (entry.StartsWith("NK_APP=", StringComparison.Ordinal)) app = entry["NK_APP=".Length..];
            }
            if (ownHome == home && app is not null && apps.Contains(app)) found.Add((new ProcessId(pid, st.StartTime), app));
        }
        return found;
    }

    private static bool IsGone(ProcessId m)
    {
        if (ProcStat.Read(m.Pid) is not { } st || st.StartTime != m.StartTime) return true;
        if (!st.IsZombie) return false;
        // A zombie has ended; the daemon reaps its own (reparented ones included), another parent reaps the rest.
        if (st.Ppid != Self) return true;
        OrphanReaper.Reap(m.Pid);
        return false;
    }

    /// <summary>
    /// A running app's tree without a look at the whole of /proc (a stop of 300 apps made 300 scans of every process,
    /// which kept the thread pool, and with it the daemon's SIGCHLD handler, busy for seconds): root and its
    /// descendants through each thread's children, and the known earlier members that still run. Members of root's
    /// process group that left the tree (reparented to the daemon) are reached by <see cref="SignalRunning"/> through
    /// the group.
    /// </summary>
    public static List<ProcessId> RunningMembers(int root, IEnumerable<ProcessId> known) =>
        Live(ProcChildren.TreeOfAllThreads(root), known, k => k.IsAlive());

    /// <summary>
    /// Signals a running app once per process: its process group (root leads it: the app is started in a session of its own)
    /// with one kill(2), and each member outside that group on its own.
    /// </summary>
    public static void SignalRunning(int root, IEnumerable<ProcessId> members, int signal)
    {
        var group = root > 1 && root != Self && Native.GroupExists(root) && Native.SignalGroup(root, signal);
        foreach (var m in members)
            if (m.Pid > 1 && m.Pid != Self && ProcStat.Read(m.Pid) is { IsZombie: false } st && st.StartTime == m.StartTime
                && !(group && st.Pgrp == root))
                Native.SignalProcess(m.Pid, signal);
    }

    /// <summary>Sends a signal to every member of the tree.</summary>
    public static void Signal(IEnumerable<ProcessId> members, int signal)
    {
        foreach (var m in members)
            if (m.Pid > 1 && m.Pid != Self && m.IsAlive())
                Native.SignalProcess(m.Pid, signal);
    }

    /// <summary>
    /// Ends what is left of a tree: the signal first, SIGKILL at the deadline, then waits until all are gone and
    /// reaps the ones that were reparented to the daemon.
    /// </summary>
    public static async Task EndAsync(int root, IEnumerable<ProcessId> known, int signal, DateTimeOffset killAt, TimeProvider clock, CancellationToken ct)
    {
        // The common case, an app that leaves nothing behind, must not delay its restart by a scan of /proc:
        // an empty process group and no known descendant alive means there is nothing to end.
        var knownList = known.ToList();
        if (!Native.GroupExists(root) && knownList.All(k => !k.IsAlive())) return;
        var members = Members(root, knownList);
        if (members.Count == 0) return;
        Signal(members, signal);
        var killed = false;
        var giveUp = DateTimeOffset.MaxValue;
        while (true)
        {
            // A member is done once its /proc entry is gone: a zombie still has to be reaped, by its dying
            // parent or, once reparented to the daemon, by us.
            members = members.Where(m => !IsGone(m)).ToList();
            if (members.Count == 0) return;
            var now = clock.GetUtcNow();
            if (!killed && now >= killAt)
            {
                Signal(members, Native.SIGKILL);
                killed = true;
                giveUp = now + TimeSpan.FromSeconds(5);
            }
            if (now >= giveUp) return;
            await Task.Delay(20, ct);
        }
    }
}
