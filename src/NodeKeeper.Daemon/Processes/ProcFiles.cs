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

    /// <summary>Reads /proc/PID/stat through the cache.</summary>
    public ProcStat? Stat(int pid)
    {
        Span<byte> buf = stackalloc byte[1024];
        var n = Read($"/proc/{pid}/stat", buf);
        return n <= 0 ? null : ProcStat.Parse(pid, buf[..n]);
    }

    /// <summary>Reads a small /proc file; -1 when it cannot be read (the process is gone).</summary>
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
        // A process that ended reads as an error (or nothing): drop the file, a new process with the pid gets a new one.
        if (n <= 0)
        {
            Native.CloseFd(fd);
            _open.Remove(path);
        }
        return n;
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
