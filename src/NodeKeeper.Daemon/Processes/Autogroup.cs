namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// The scheduler's weight of an app's session: the nice value of its autogroup (/proc/PID/autogroup; every app runs in
/// a session of its own, so this is the app's alone, its threads and its children included). Linux shares the CPU
/// between autogroups first, then between the tasks of each; an autogroup at nice 10 weighs 110 against 1024.
/// </summary>
/// <remarks>
/// Only a privileged daemon sets it: without CAP_SYS_ADMIN the kernel takes at most one change per 100 ms (EAGAIN
/// otherwise) machine-wide, and a weight lowered for a start must be raised again for sure. Without autogroups (kernel
/// option off, or the daemon in a cgroup of its own with the cpu controller, as under systemd with CPUWeight=) the
/// file is absent or has no effect: nothing changes.
/// </remarks>
public static class Autogroup
{
    /// <summary>The nice value of an app's session while it starts in a storm.</summary>
    public const int StormNice = 10;

    /// <summary>Whether this daemon sets autogroup weights at all (it is privileged).</summary>
    public static bool Enabled { get; } = Environment.IsPrivilegedProcess && File.Exists("/proc/self/autogroup");

    /// <summary>Sets the nice value of <paramref name="pid"/>'s autogroup; false when it could not (gone, not allowed).</summary>
    public static bool SetNice(int pid, int nice)
    {
        if (!Enabled || pid <= 1) return false;
        try
        {
            File.WriteAllText($"/proc/{pid}/autogroup", nice.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return false; }
    }
}
