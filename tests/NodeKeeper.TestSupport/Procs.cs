namespace NodeKeeper.TestSupport;

/// <summary>Looks at real processes through /proc.</summary>
public static class Procs
{
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
    }

    public static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] is 'Z';
        }
        catch (IOException) { return false; }
    }

    /// <summary>
    /// Until <paramref name="pid"/> runs <paramref name="program"/> (its /proc/PID/comm): an instance's pid is known
    /// from its spawn on, while setsid, prlimit and setpriv still exec their way to node in that pid.
    /// </summary>
    public static Task UntilRunsAsync(int pid, string program, TimeSpan? timeout = null) =>
        Eventually.Until(() => Comm(pid) == program, timeout ?? TimeSpan.FromSeconds(10), $"pid {pid} to run {program}");

    private static string? Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return null; }
    }

    /// <summary>The CPU a process has used (utime + stime), in clock ticks of 1/100 s; null once it is gone.</summary>
    public static long? CpuTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11]) + long.Parse(fields[12]);
        }
        catch (IOException) { return null; }
    }

    /// <summary>"pid state ppid cmdline" of a process, for failure messages.</summary>
    public static string Describe(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
            return $"{pid} {fields[0]} ppid={fields[1]} {cmd}";
        }
        catch (IOException) { return $"{pid} gone"; }
    }

    /// <summary>The environment of a process, or empty when it cannot be read.</summary>
    public static Dictionary<string, string> Environ(int pid)
    {
        var env = new Dictionary<string, string>();
        try
        {
            foreach (var kv in File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = kv.IndexOf('=');
                if (eq > 0) env[kv[..eq]] = kv[(eq + 1)..];
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return env;
    }

    /// <summary>Every live process whose environment carries NODEKEEPER_HOME=home: the test's daemon and its apps.</summary>
    public static List<int> OwnedBy(string home)
    {
        var result = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid <= 1 || pid == Environment.ProcessId) continue;
            if (!IsAlive(pid)) continue;
            if (Environ(pid).TryGetValue("NODEKEEPER_HOME", out var h) && h == home) result.Add(pid);
        }
        return result;
    }

    /// <summary>SIGKILLs a pid only after checking it belongs to this test's home.</summary>
    public static void KillOwned(int pid, string home)
    {
        if (pid <= 1 || pid == Environment.ProcessId) return;
        if (!Environ(pid).TryGetValue("NODEKEEPER_HOME", out var h) || h != home) return;
        try { System.Diagnostics.Process.GetProcessById(pid).Kill(); }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }

    /// <summary>Sends a signal (by number) to a pid that belongs to this test's home.</summary>
    public static void Signal(int pid, int signal, string home)
    {
        if (pid <= 1 || pid == Environment.ProcessId) throw new ArgumentOutOfRangeException(nameof(pid));
        if (!Environ(pid).TryGetValue("NODEKEEPER_HOME", out var h) || h != home)
            throw new InvalidOperationException($"pid {pid} does not belong to {home}");
        using var p = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString()]);
        p.WaitForExit();
    }
}
