namespace NodeKeeper.Daemon.Processes;

/// <summary>The fields of /proc/PID/stat the daemon uses.</summary>
public readonly record struct ProcStat(
    int Pid, char State, int Ppid, int Pgrp, int Session, long UserTicks, long SystemTicks, long StartTime, long RssPages)
{
    public bool IsZombie => State is 'Z' or 'X';

    /// <summary>Reads one process; null when it is gone or unreadable.</summary>
    public static ProcStat? Read(int pid)
    {
        try { return Parse(pid, File.ReadAllText($"/proc/{pid}/stat")); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static long Field(ReadOnlySpan<char> f, Span<Range> parts, int i) => long.Parse(f[parts[i]]);

    /// <summary>Parses a stat line; the command name may hold spaces and parentheses, so fields start after the last ')'.</summary>
    public static ProcStat? Parse(int pid, string text)
    {
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length) return null;
        var f = text.AsSpan(close + 2);
        Span<Range> parts = stackalloc Range[24];
        var n = f.Split(parts, ' ');
        if (n < 22) return null;
        return new ProcStat(pid, f[parts[0]][0], (int)Field(f, parts, 1), (int)Field(f, parts, 2), (int)Field(f, parts, 3),
            Field(f, parts, 11), Field(f, parts, 12), Field(f, parts, 19), Field(f, parts, 21));
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

    /// <summary>Direct children of a process.</summary>
    public IReadOnlyList<int> ChildrenOf(int pid) => _children.TryGetValue(pid, out var l) ? l : [];
}
