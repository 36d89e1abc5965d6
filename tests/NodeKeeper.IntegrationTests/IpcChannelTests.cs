using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.IntegrationTests;

/// <summary>The daemon's end of an app's IPC channel and its reader on the shared IPC thread (a real socketpair, no app).</summary>
public sealed class IpcChannelTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Closing_an_ended_run_does_not_wait_for_the_ipc_thread_and_no_line_is_lost()
    {
        var (ours, theirs) = Native.CreateSocketPair();
        var channel = new Socket(new SafeSocketHandle((IntPtr)ours, ownsHandle: true));
        using var app = new Socket(new SafeSocketHandle((IntPtr)theirs, ownsHandle: true));
        var heard = new Heard();
        var reading = IpcReader.Start(channel, TimeSpan.FromMilliseconds(1), heard, new ReaderSlot());
        app.Send("\"ready\"\n"u8);
        await Eventually.Until(() => heard.Ready, Deadline, "the reader to hear \"ready\"");

        // The IPC thread is kept busy in another reader's read: until let go, it looks at no channel.
        using var held = new Holder();
        var holding = FdReactor.Ipc.Add(held.Reader);
        await Eventually.Until(() => held.Entered, Deadline, "the IPC thread to be held up");
        Task closing;
        try
        {
            // Sent before the close and not read yet: the reader must still hear it.
            app.Send("{\"nk\":\"drained\"}\n"u8);
            var run = new RunningProcess(new ProcessId(Environment.ProcessId, 0), Task.CompletedTask, Task.FromResult(0), channel);
            closing = Task.Run(run.Dispose);
            (await Task.WhenAny(closing, Task.Delay(Deadline))).Should().BeSameAs(closing,
                "closing the daemon's end must not wait for the IPC thread to let go of the channel");
            reading.IsCompleted.Should().BeFalse("the held-up thread has not looked at the channel yet");
        }
        finally { held.LetGo(); }

        await holding.WaitAsync(Deadline);
        await closing;
        await reading.WaitAsync(Deadline);
        heard.Drained.Should().BeTrue("a line sent before the close is read before the end");
        var buffer = new byte[16];
        app.Receive(buffer).Should().Be(0, "the app's end sees the channel closed");
    }

    private sealed class Heard : IIpcListener
    {
        public volatile bool Ready;
        public volatile bool Drained;
        public void Reported(PreloadReport report) { }
        public void ReadyMessage() => Ready = true;
        public void Listening() { }
        void IIpcListener.Drained() => Drained = true;
        public void Captured(CaptureNotice notice) { }
    }

    /// <summary>A reader of a readable socket whose read blocks until <see cref="LetGo"/>: it holds the reactor's thread.</summary>
    private sealed class Holder : IDisposable
    {
        private readonly ManualResetEventSlim _letGo = new();
        private readonly Socket _peer;
        public HoldingReader Reader { get; }
        public volatile bool Entered;

        public Holder()
        {
            var (a, b) = Native.CreateSocketPair();
            _peer = new Socket(new SafeSocketHandle((IntPtr)b, ownsHandle: true));
            Reader = new HoldingReader(new SafeFileHandle((IntPtr)a, ownsHandle: true), this);
            _peer.Send("x"u8);
        }

        public void LetGo() => _letGo.Set();

        public void Dispose()
        {
            _letGo.Set();
            _peer.Dispose();
        }

        public sealed class HoldingReader(SafeFileHandle handle, Holder holder) : FdReader(handle, null)
        {
            protected override ReadOutcome Read(byte[] scratch)
            {
                holder.Entered = true;
                holder._letGo.Wait();
                return ReadOutcome.Ended;
            }

            protected override ParkedReader Park() => throw new NotSupportedException();

            protected override void Finish() => handle.Dispose();
        }
    }
}
