using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>The libc calls of <see cref="FdReactor"/>: one epoll set waited on by one thread for many fds.</summary>
public static partial class Native
{
    private const int EPOLL_CLOEXEC = 0x80000;
    private const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    private const int F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0x800;
    public const uint EPOLLIN = 0x1;

    /// <summary>struct epoll_event is packed on x86-64 (12 bytes, data at 4) and naturally aligned elsewhere (16, at 8).</summary>
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    public static int EpollCreate()
    {
        var fd = epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0) throw new IOException($"epoll_create1 failed: errno {Marshal.GetLastPInvokeError()}");
        return fd;
    }

    /// <summary>Adds fd (level-triggered, for <paramref name="events"/>) with <paramref name="data"/> to tell it by.</summary>
    public static void EpollAdd(int epfd, int fd, uint events, ulong data) => EpollControl(epfd, EPOLL_CTL_ADD, fd, events, data);

    /// <summary>Changes what fd is waited for (0: nothing, until changed again).</summary>
    public static void EpollModify(int epfd, int fd, uint events, ulong data) => EpollControl(epfd, EPOLL_CTL_MOD, fd, events, data);

    public static unsafe void EpollRemove(int epfd, int fd) => epoll_ctl(epfd, EPOLL_CTL_DEL, fd, null);

    private static unsafe void EpollControl(int epfd, int op, int fd, uint events, ulong data)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + EpollDataOffset) = data;
        if (epoll_ctl(epfd, op, fd, ev) < 0) throw new IOException($"epoll_ctl({op}) of fd {fd} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits for events into <paramref name="events"/> (<see cref="EpollEventSize"/> bytes each); the count, 0 on timeout or EINTR.</summary>
    public static unsafe int EpollWait(int epfd, byte[] events, int timeoutMs)
    {
        fixed (byte* p = events)
        {
            var n = epoll_wait(epfd, p, events.Length / EpollEventSize, timeoutMs);
            if (n >= 0) return n;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == 4 /*EINTR*/) return 0;
            throw new IOException($"epoll_wait failed: errno {errno}");
        }
    }

    /// <summary>The data of the i-th event <see cref="EpollWait"/> returned.</summary>
    public static ulong EpollData(byte[] events, int i) => BitConverter.ToUInt64(events, i * EpollEventSize + EpollDataOffset);

    /// <summary>Puts the fd's open file into non-blocking mode (a read with nothing to read returns at once).</summary>
    public static void SetNonBlocking(int fd)
    {
        var flags = fcntl(fd, F_GETFL, 0);
        if (flags >= 0 && (flags & O_NONBLOCK) == 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }

    /// <summary>One read(2); the bytes read, 0 at the end, -1 when nothing is there now (EAGAIN), -2 on an error.</summary>
    public static unsafe int ReadNow(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = read(fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                var errno = Marshal.GetLastPInvokeError();
                if (errno == 4 /*EINTR*/) continue;
                return errno == 11 /*EAGAIN*/ ? -1 : -2;
            }
        }
    }
}
