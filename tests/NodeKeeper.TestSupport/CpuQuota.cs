namespace NodeKeeper.TestSupport;

/// <summary>
/// A process starved of CPU the way a container's CPU limit starves it: moved into a cgroup (v1, the cpu controller)
/// of its own whose quota lets it run <c>quota</c> per second, throttled the rest. Unlike a low weight beside busy
/// loops, which the kernel's scheduler turns into delays anywhere from 0 to 900 ms, a quota of a few milliseconds a
/// second makes every turn of the event loop wait about a second, on any machine. Disposing moves the process back and
/// removes the group.
/// </summary>
public sealed class CpuQuota : IDisposable
{
    private const string Root = "/sys/fs/cgroup/cpu";
    private readonly string _group;
    private readonly int _pid;

    public static bool Possible => File.Exists(Path.Combine(Root, "cpu.cfs_quota_us"));

    /// <summary>Moves <paramref name="pid"/> (checked by the caller to be the test's own) into a new group that lets it
    /// run <paramref name="perSecond"/> a second.</summary>
    public CpuQuota(int pid, TimeSpan perSecond)
    {
        _pid = pid;
        _group = Path.Combine(Root, $"nk-test-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_group);
        File.WriteAllText(Path.Combine(_group, "cpu.cfs_period_us"), "1000000");
        File.WriteAllText(Path.Combine(_group, "cpu.cfs_quota_us"), ((long)perSecond.TotalMicroseconds).ToString());
        // cgroup.procs moves every thread of the process, and the threads it starts later are born there.
        File.WriteAllText(Path.Combine(_group, "cgroup.procs"), pid.ToString());
    }

    /// <summary>The quota off: the process runs as it would anywhere else.</summary>
    public void Lift() => File.WriteAllText(Path.Combine(_group, "cpu.cfs_quota_us"), "-1");

    public void Dispose()
    {
        try { Lift(); } catch (IOException) { }
        // Back where it came from, if it still runs (a process that has exited leaves the group by itself).
        if (Procs.IsAlive(_pid))
            try { File.WriteAllText(Path.Combine(Root, "cgroup.procs"), _pid.ToString()); } catch (IOException) { }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try { Directory.Delete(_group); return; }
            catch (IOException) when (DateTime.UtcNow < deadline) { Thread.Sleep(50); } // its last task still leaving
        }
    }
}
