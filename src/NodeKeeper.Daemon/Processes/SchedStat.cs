namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// /proc/PID/schedstat of a process's main thread: nanoseconds it ran on a CPU and nanoseconds it waited in a run
/// queue for one. The second is what a busy machine costs a starting app: time it would have run had a core been free.
/// </summary>
public readonly record struct SchedStat(long RunNs, long WaitNs)
{
    public static SchedStat? Read(int pid)
    {
        Span<byte> buf = stackalloc byte[128];
        var n = Native.ReadSmallFile($"/proc/{pid}/schedstat", buf);
        if (n <= 0) return null;
        var text = buf[..n];
        var first = text.IndexOf((byte)' ');
        if (first <= 0) return null;
        var rest = text[(first + 1)..];
        var second = rest.IndexOf((byte)' ');
        if (second <= 0) return null;
        return System.Buffers.Text.Utf8Parser.TryParse(text[..first], out long run, out _)
            && System.Buffers.Text.Utf8Parser.TryParse(rest[..second], out long wait, out _)
            ? new SchedStat(run, wait) : null;
    }

    /// <summary>For the start gate: CPU time used and waited for, which grows while the process runs or is runnable.</summary>
    public static long? Progress(int pid) => Read(pid) is { } s ? s.RunNs + s.WaitNs : null;
}
