using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>The few libc calls the daemon needs, each wrapped once in a method that says what it does.</summary>
public static partial class Native
{
    private const int PR_SET_CHILD_SUBREAPER = 36;
    private const int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;
    private const int WNOHANG = 1;
    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    public const int SIGKILL = 9;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nint arg2, nint arg3, nint arg4, nint arg5);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int waitpid(int pid, out int status, int options);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int socketpair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int stat(string path, byte* buf);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setsid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int dup2(int oldfd, int newfd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint pread(int fd, byte* buf, nint count, long offset);

    [LibraryImport("libc")]
    private static partial long sysconf(int name);

    /// <summary>Sends a signal to one process. Refuses pids that would address a group or everything.</summary>
    public static bool SignalProcess(int pid, int signal)
    {
        if (pid <= 1) throw new ArgumentOutOfRangeException(nameof(pid), pid, "refusing to signal pid <= 1");
        return kill(pid, signal) == 0;
    }

    /// <summary>Sends a signal to every process of a process group. Refuses groups 0 and 1.</summary>
    public static bool SignalGroup(int pgid, int signal)
    {
        if (pgid <= 1) throw new ArgumentOutOfRangeException(nameof(pgid), pgid, "refusing to signal group <= 1");
        return kill(-pgid, signal) == 0;
    }

    /// <summary>True while any process is in the group (kill(-pgid, 0) does not fail with ESRCH).</summary>
    public static bool GroupExists(int pgid)
    {
        if (pgid <= 1) return false;
        return kill(-pgid, 0) == 0 || Marshal.GetLastPInvokeError() != 3 /*ESRCH*/;
    }

    /// <summary>Makes orphaned descendants reparent to this process rather than to init.</summary>
    public static bool BecomeChildSubreaper() => prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;

    /// <summary>Reaps one exited child that .NET did not start (never waitpid(-1): that steals .NET's own children).</summary>
    public static bool TryReap(int pid)
    {
        if (pid <= 1) return false;
        return waitpid(pid, out _, WNOHANG) == pid;
    }

    /// <summary>Lets (or stops) a child process inherit this fd across exec.</summary>
    public static void SetInheritable(int fd, bool inheritable)
    {
        var flags = fcntl(fd, F_GETFD, 0);
        if (flags < 0) throw new IOException($"fcntl(F_GETFD) failed: errno {Marshal.GetLastPInvokeError()}");
        var wanted = inheritable ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC;
        if (fcntl(fd, F_SETFD, wanted) < 0) throw new IOException($"fcntl(F_SETFD) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Grows a pipe's kernel buffer (F_SETPIPE_SZ); returns false when the kernel refuses.</summary>
    public static bool SetPipeCapacity(int fd, int bytes) => fcntl(fd, 1031 /*F_SETPIPE_SZ*/, bytes) >= 0;

    /// <summary>A connected pair of Unix stream sockets, both close-on-exec.</summary>
    public static unsafe (int, int) CreateSocketPair()
    {
        var fds = stackalloc int[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            throw new IOException($"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        return (fds[0], fds[1]);
    }

    /// <summary>Closes a raw fd.</summary>
    public static void CloseFd(int fd) => close(fd);

    /// <summary>Clock ticks per second of /proc's CPU times.</summary>
    public static long ClockTicksPerSecond() { var t = sysconf(2 /*_SC_CLK_TCK*/); return t > 0 ? t : 100; }

    /// <summary>Memory page size.</summary>
    public static long PageSize() { var p = sysconf(30 /*_SC_PAGESIZE*/); return p > 0 ? p : 4096; }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getrlimit(int resource, ulong* rlim);

    /// <summary>This process's soft RLIMIT_NOFILE (it may be changed from outside, with prlimit); null when unknown.</summary>
    public static unsafe long? OpenFilesSoftLimit()
    {
        var rlim = stackalloc ulong[2];
        if (getrlimit(7 /*RLIMIT_NOFILE*/, rlim) != 0) return null;
        return rlim[0] > long.MaxValue ? long.MaxValue : (long)rlim[0];
    }

    /// <summary>How many fds this process has open (stat of /proc/self/fd: needs no fd itself); null when the kernel does not say (before 6.2).</summary>
    public static long? OpenFdCount() => StatSize("/proc/self/fd") is > 0 and var n ? n : null;

    /// <summary>st_size of a path (for /proc/PID/fd it is the number of open fds on Linux 6.2 and later); -1 on error.</summary>
    public static unsafe long StatSize(string path)
    {
        var buf = stackalloc byte[256];
        if (stat(path, buf) != 0) return -1;
        return *(long*)(buf + 48); // x86_64 and aarch64 struct stat: st_size at offset 48
    }

    /// <summary>True when the path (links followed) is a regular file: not a FIFO, socket, device or folder.</summary>
    public static unsafe bool IsRegularFile(string path)
    {
        var buf = stackalloc byte[256];
        if (stat(path, buf) != 0) return false;
        // struct stat: st_mode at offset 24 on x86_64 (after an 8-byte st_nlink), 16 on aarch64.
        var offset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16;
        return (*(uint*)(buf + offset) & 0xF000) == 0x8000; // S_IFMT, S_IFREG
    }

    /// <summary>
    /// Closes every fd above 2 that this process inherited from whoever started it (a shell's redirection, a test
    /// runner's pipe, a secret file opened by a wrapper): they would reach every app, `user` apps too. The .NET runtime
    /// opens all of its own with O_CLOEXEC, so an fd without that flag is one somebody else left open. Returns their numbers.
    /// </summary>
    public static List<int> CloseInheritedFds(IReadOnlySet<int>? keep = null)
    {
        var closed = new List<int>();
        foreach (var entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var fd) || fd <= 2) continue;
            var flags = fcntl(fd, F_GETFD, 0);
            if (flags < 0 || (flags & FD_CLOEXEC) != 0 || keep?.Contains(fd) == true) continue;
            close(fd);
            closed.Add(fd);
        }
        closed.Sort();
        return closed;
    }

    /// <summary>Detaches the daemon from the terminal and session of the command that started it.</summary>
    public static void DetachFromTerminal()
    {
        setsid();
        var devnull = open("/dev/null", 2 /*O_RDWR*/);
        if (devnull < 0) return;
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (devnull > 2) close(devnull);
    }

    /// <summary>
    /// Reads a small file (a /proc entry) into the buffer without a FileStream; returns the bytes read, or -1 when it
    /// cannot be opened. The sampler reads a few of these a second for every instance, so they must cost little.
    /// </summary>
    public static unsafe int ReadSmallFile(string path, Span<byte> buffer)
    {
        var fd = open(path, 0x80000 /*O_RDONLY|O_CLOEXEC*/);
        if (fd < 0) return -1;
        try
        {
            var total = 0;
            fixed (byte* p = buffer)
            {
                while (total < buffer.Length)
                {
                    var n = read(fd, p + total, buffer.Length - total);
                    if (n <= 0) break;
                    total += (int)n;
                    // procfs hands over a small file in one read; a short read means the end (saves a syscall).
                    if (total < buffer.Length) break;
                }
            }
            return total;
        }
        finally { close(fd); }
    }

    /// <summary>Opens a file read-only (close-on-exec); -1 when it cannot be opened.</summary>
    public static int OpenForReading(string path) => open(path, 0x80000 /*O_RDONLY|O_CLOEXEC*/);

    /// <summary>Reads from offset 0 in one call (enough for a small procfs file); -1 on error.</summary>
    public static unsafe int ReadAt(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer) return (int)pread(fd, p, buffer.Length, 0);
    }
}
