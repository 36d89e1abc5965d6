namespace NodeKeeper.Daemon.Processes;

/// <summary>The fields of /proc/PID/stat the daemon uses.</summary>
public readonly record struct ProcStat(
    int Pid, char State, int Ppid, int Pgrp, int Session, long UserTicks, long SystemTicks, long StartTime, long RssPages)
{
    public bool IsZombie => State is 'Z' or 'X';

    /// <summary>For the stop gate: whether the process's main thread runs or waits to run; null when it is gone or ended.</summary>
    public static bool? Runnable(int pid) => Read(pid) is { IsZombie: false } st ? st.State == 'R' : null;

    /// <summary>Reads one process; null when it is gone or unreadable.</summary>
    public static ProcStat? Read(int pid)
    {
        Span<byte> buf = stackalloc byte[1024];
        var n = Native.ReadSmallFile($"/proc/{pid}/stat", buf);
        return n <= 0 ? null : Parse(pid, buf[..n]);
    }

    /// <summary>Parses stat bytes; fields start after the last ')' (the command name may hold anything).</summary>
    public static ProcStat? Parse(int pid, ReadOnlySpan<byte> text)
    {
        var close = text.LastIndexOf((byte)')');
        if (close < 0 || close + 2 >= text.Length) return null;
        var f = text[(close + 2)..];
        Span<long> v = stackalloc long[22];
        var field = 0;
        var state = (char)f[0];
        long current = 0;
        var negative = false;
        for (var i = 2; i < f.Length && field < 21; i++)
        {
            var b = f[i];
            if (b == (byte)' ' || b == (byte)'\n') { v[++field] = negative ? -current : current; current = 0; negative = false; }
            else if (b == (byte)'-') negative = true;
            else current = current * 10 + (b - (byte)'0');
        }
        if (field < 21) return null;
        return new ProcStat(pid, state, (int)v[1], (int)v[2], (int)v[3], v[11], v[12], v[19], v[21]);
    }
}

/// <summary>One pass over /proc: every process and who is whose child.</summary>
public sealed class ProcSnapshot
{
    private readonly Dictionary<int, ProcStat> _byPid = new();
    private readonly Dictionary<int, List<int>> _children = new();

    public IReadOnlyDictionary<int, ProcStat> ByPid => _byPid;

    /// <summary>Reads every process under /proc.</summary>
    public static ProcSnapshot Take()
    {
        var snap = new ProcSnapshot();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir.AsSpan());
            if (!int.TryParse(name, out var pid)) continue;
            if (ProcStat.Read(pid) is { } st) snap.Add(st);
        }
        return snap;
    }

    private void Add(ProcStat st)
    {
        _byPid[st.Pid] = st;
        if (!_children.TryGetValue(st.Ppid, out var list)) _children[st.Ppid] = list = [];
        list.Add(st.Pid);
    }

    /// <summary>Every descendant of pid (children, their children…; not pid itself), zombies included.</summary>
    public List<ProcStat> DescendantsOf(int pid)
    {
        var result = new List<ProcStat>();
        var stack = new Stack<int>([pid]);
        while (stack.Count > 0)
            if (_children.TryGetValue(stack.Pop(), out var kids))
                foreach (var k in kids)
                    if (k != pid && _byPid.TryGetValue(k, out var st)) { result.Add(st); stack.Push(k); }
        return result;
    }

    /// <summary>The root (if alive), its descendants, and every member of its process group or session.</summary>
    public List<ProcStat> TreeOf(int root)
    {
        var result = new List<ProcStat>();
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var pid = stack.Pop();
            if (!seen.Add(pid)) continue;
            if (_byPid.TryGetValue(pid, out var st)) result.Add(st);
            if (_children.TryGetValue(pid, out var kids)) foreach (var k in kids) stack.Push(k);
        }
        foreach (var st in _byPid.Values)
            if ((st.Pgrp == root || st.Session == root) && seen.Add(st.Pid))
            {
                result.Add(st);
                if (_children.TryGetValue(st.Pid, out var kids)) foreach (var k in kids) stack.Push(k);
                while (stack.Count > 0)
                {
                    var pid = stack.Pop();
                    if (!seen.Add(pid)) continue;
                    if (_byPid.TryGetValue(pid, out var c)) result.Add(c);
                    if (_children.TryGetValue(pid, out var kk)) foreach (var k in kk) stack.Push(k);
                }
            }
        return result;
    }
}
