namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// The kernel OOM killer's count in the cgroup the daemon and its apps run in (oom_kill in cgroup v2's memory.events,
/// or in cgroup v1's memory.oom_control):
/// when it rises during a run that ends by a SIGKILL nobody in NodeKeeper sent, the kernel killed the app for memory.
/// </summary>
public static class CgroupMemory
{
    private static readonly string? EventsPath = Find();

    private static string? Find()
    {
        try
        {
            foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
            {
                var parts = line.Split(':', 3);
                if (parts.Length < 3) continue;
                var path = parts[0] == "0" && parts[1] == ""
                    ? Path.Combine("/sys/fs/cgroup", parts[2].TrimStart('/'), "memory.events")
                    : parts[1].Split(',').Contains("memory") ? Path.Combine("/sys/fs/cgroup/memory", parts[2].TrimStart('/'), "memory.oom_control") : null;
                if (path is not null && File.Exists(path)) return path;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>The oom_kill count, or null where cgroup v2 memory accounting is not visible.</summary>
    public static long? OomKills()
    {
        if (EventsPath is null) return null;
        try
        {
            foreach (var line in File.ReadLines(EventsPath))
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), out var n)) return n;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return null;
    }
}
