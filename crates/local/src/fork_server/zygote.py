def _e2b_zygote():
    # The fork server. It never runs, compiles or unpickles anything it is
    # sent but the pool's bootstrap: it only forks, in the helper's own code
    # (libe2b_fork_server). Each child becomes one sandbox's helper, and that
    # sandbox's program comes back here, confined, through `program`, to run
    # the bootstrap.
    import ctypes, gc, os, signal, sys
    del globals()['_e2b_zygote']
    # fd 3: a SOCK_SEQPACKET socket to the host, a message per read.
    library = ctypes.CDLL(os.read(3, 4096).decode())
    boot = compile(os.read(3, 1 << 20).decode(), '<string>', 'exec')

    @ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)
    def program(env, size):
        # As a fresh interpreter has them: its environment, and the signal
        # handlers it installs at start (the confinement reset every one).
        block = ctypes.string_at(env, size)
        os.environ.clear()
        for entry in block.split(b'\0')[:-1]:
            key, _, value = entry.partition(b'=')
            os.environb[key] = value
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            exec(boot, sys.modules['__main__'].__dict__)
            status = 0
        except SystemExit as e:
            status = e.code
        except BaseException as e:
            sys.excepthook(type(e), e, e.__traceback__)
            status = 1
        _exit_as_python(status)

    def _exit_as_python(status):
        # What the interpreter does when its main module ends: an exit code
        # that is not a number is printed; threads joined, atexit run, the
        # streams flushed (a failed flush is exit 120).
        if status is None:
            status = 0
        elif not isinstance(status, int):
            try:
                print(status, file=sys.stderr)
            except BaseException:
                pass
            status = 1
        try:
            threading = sys.modules.get('threading')
            if threading is not None:
                threading._shutdown()
            import atexit
            atexit._run_exitfuncs()
            # Finalization clears the main module and the code's own
            # modules, so that what they hold (open files) is finalized.
            prefix = os.path.join(sys.base_prefix, '')
            for name, module in list(sys.modules.items()):
                path = getattr(module, '__file__', None)
                if name == '__main__' or (isinstance(path, str) and not path.startswith(prefix)):
                    space = module.__dict__
                    for key in list(space):
                        if key != '__builtins__':
                            space[key] = None
            gc.collect()
        except BaseException as e:
            sys.excepthook(type(e), e, e.__traceback__)
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None and not stream.closed:
                    stream.flush()
            except BaseException:
                status = 120
        os._exit(status & 0xff)

    compile('pass', '<string>', 'exec')
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    gc.collect()
    gc.freeze()
    os.write(3, b'ready')
    # Forks until the host closes the socket (then waits for the sandboxes
    # forked); in each sandbox's program, calls `program` instead.
    library.e2b_fork_server_serve(3, program)
_e2b_zygote()
