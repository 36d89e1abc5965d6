using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>The libc calls of `nk update`: the daemon replaces its own image and hands its fds to the new one.</summary>
public static partial class Native
{
    private const int F_DUPFD_CLOEXEC = 1030;
    private const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int execve(IntPtr path, IntPtr[] argv, IntPtr[] envp);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint write(int fd, byte* buf, nint count);

    /// <summary>A second fd for the same open file, close-on-exec (it is cleared only right before the exec).</summary>
    public static int DupCloseOnExec(int fd)
    {
        var copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) throw new IOException($"fcntl(F_DUPFD_CLOEXEC) of fd {fd} failed: errno {Marshal.GetLastPInvokeError()}");
        return copy;
    }

    /// <summary>Whether fd is an open fd of this process.</summary>
    public static bool IsOpenFd(int fd) => fd >= 0 && fcntl(fd, F_GETFD, 0) >= 0;

    /// <summary>
    /// Replaces this process's image with <paramref name="file"/> (execve): same pid, same children, every fd without
    /// close-on-exec kept. Returns only when the exec failed, with the error.
    /// </summary>
    public static string Exec(string file, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> env)
    {
        var args = new IntPtr[argv.Count + 1];
        var vars = new IntPtr[env.Count + 1];
        var path = Marshal.StringToCoTaskMemUTF8(file);
        try
        {
            for (var i = 0; i < argv.Count; i++) args[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
            var n = 0;
            foreach (var (k, v) in env) vars[n++] = Marshal.StringToCoTaskMemUTF8($"{k}={v}");
            execve(path, args, vars);
            return Marshal.GetLastPInvokeErrorMessage();
        }
        finally
        {
            Marshal.FreeCoTaskMem(path);
            foreach (var p in args) if (p != IntPtr.Zero) Marshal.FreeCoTaskMem(p);
            foreach (var p in vars) if (p != IntPtr.Zero) Marshal.FreeCoTaskMem(p);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int waitid(int idtype, int id, byte* info, int options);

    /// <summary>
    /// The pid of a child of this process that has exited and not been waited for, left as it is (waitid with WNOWAIT);
    /// 0 when there is none.
    /// </summary>
    public static unsafe int PeekExitedChild()
    {
        const int P_ALL = 0, WEXITED = 4, WNOWAIT = 0x01000000;
        var info = stackalloc byte[128];
        new Span<byte>(info, 128).Clear();
        while (waitid(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) != 0)
            if (Marshal.GetLastPInvokeError() != 4 /*EINTR*/) return 0;
        return *(int*)(info + 16); // siginfo_t.si_pid (0 when no child has exited)
    }

    /// <summary>A non-blocking, close-on-exec eventfd: readable once <see cref="RaiseEvent"/> was called, until <see cref="ClearEvent"/>.</summary>
    public static int CreateEvent()
    {
        var fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0) throw new IOException($"eventfd failed: errno {Marshal.GetLastPInvokeError()}");
        return fd;
    }

    public static unsafe void RaiseEvent(int fd)
    {
        long one = 1;
        write(fd, (byte*)&one, 8);
    }

    public static unsafe void ClearEvent(int fd)
    {
        long value;
        read(fd, (byte*)&value, 8);
    }


    /// <summary>
    /// The status of a child this process did not start through .NET (one adopted across an exec), once it has exited:
    /// its code, or 128 + the signal that ended it (as .NET reports); null while it runs; -1 when it is no child of ours
    /// any more (its status was taken before the exec).
    /// </summary>
    public static int? TryWaitChild(int pid)
    {
        if (pid <= 1) return -1;
        while (true)
        {
            var r = waitpid(pid, out var status, WNOHANG);
            if (r == 0) return null;
            if (r == pid)
            {
                var sig = status & 0x7f;
                if (sig == 0) return (status >> 8) & 0xff;
                if (sig != 0x7f) return 128 + sig;
                return null; // stopped, not ended
            }
            if (Marshal.GetLastPInvokeError() == 4 /*EINTR*/) continue;
            return -1;
        }
    }
}
