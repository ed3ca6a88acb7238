def f():
    """$\mathbf{W}$"""
