using System.Net.Sockets;

namespace NodeKeeper.Daemon.Listeners;

/// <summary>A socket whose fd the previous daemon image handed over (`nk update`).</summary>
public static class InheritedSocket
{
    /// <summary>The socket of the fd, made close-on-exec again so that no app launched later inherits it.</summary>
    public static Socket Adopt(int fd)
    {
        Processes.Native.SetInheritable(fd, false);
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }
}
