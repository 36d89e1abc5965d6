namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// Keeps /proc files of sampled processes open between passes and re-reads them with pread at offset 0 (procfs
/// regenerates the content on each read): one syscall per file and second instead of open, read and close.
/// Used by the sampler's thread alone.
/// </summary>
public sealed class ProcFiles : IDisposable
{
    private readonly Dictionary<string, int> _open = new();
    private readonly HashSet<string> _used = new();

    /// <summary>Reads /proc/PID/stat through the cache. When it is opened anew (a new process, or a pid used again), the
    /// files of the pid's other /proc entries are opened anew too.</summary>
    public ProcStat? Stat(int pid)
    {
        Span<byte> buf = stackalloc byte[1024];
        var path = $"/proc/{pid}/stat";
        if (!_open.ContainsKey(path)) Forget($"/proc/{pid}/task/{pid}/children");
        var n = Read(path, buf);
        return n <= 0 ? null : ProcStat.Parse(pid, buf[..n]);
    }

    /// <summary>Reads a small /proc file; -1 when it cannot be read (the process is gone). An empty file (a process
    /// without children) stays open: reopening it every second cost an open and a close per instance.</summary>
    public int Read(string path, Span<byte> buffer)
    {
        _used.Add(path);
        if (!_open.TryGetValue(path, out var fd))
        {
            fd = Native.OpenForReading(path);
            if (fd < 0) return -1;
            _open[path] = fd;
        }
        var n = Native.ReadAt(fd, buffer);
        // A process that ended reads as an error: drop the file, a new process with the pid gets a new one.
        if (n < 0) Forget(path);
        return n;
    }

    /// <summary>Keeps the pid's files open through this pass without reading them.</summary>
    public void Keep(int pid)
    {
        _used.Add($"/proc/{pid}/stat");
        _used.Add($"/proc/{pid}/task/{pid}/children");
    }

    private void Forget(string path)
    {
        if (!_open.Remove(path, out var fd)) return;
        Native.CloseFd(fd);
    }

    /// <summary>Closes the files not read since the last call (their processes ended or are no longer sampled).</summary>
    public void EndPass()
    {
        if (_used.Count != _open.Count)
            foreach (var path in _open.Keys.Where(p => !_used.Contains(p)).ToList())
            {
                Native.CloseFd(_open[path]);
                _open.Remove(path);
            }
        _used.Clear();
    }

    public void Dispose()
    {
        foreach (var fd in _open.Values) Native.CloseFd(fd);
        _open.Clear();
    }
}
