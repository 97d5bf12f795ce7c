//! [`Builder`]: names a fiber and sizes its stack, like
//! [`std::thread::Builder`].

use super::Fiber;
use crate::stack::{StackError, DEFAULT_STACK_SIZE};

/// Configures a fiber before it is created.
///
/// # Examples
///
/// ```
/// use fibrio_core::fiber::Builder;
///
/// let fiber: fibrio_core::fiber::Fiber<u32, (), u32> = Builder::new()
///     .name("parser")
///     .stack_size(64 * 1024)
///     .build(|x: u32| x * 2)?;
/// assert_eq!(fiber.name(), Some("parser"));
/// fiber.start(21).unwrap();
/// assert_eq!(fiber.get_return().unwrap(), 42);
/// # Ok::<(), fibrio_core::stack::StackError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the default stack size
    /// ([`DEFAULT_STACK_SIZE`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Builder::new().build(|(): ()| ())?;
    /// assert_eq!(fiber.name(), None);
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the fiber. The name appears in stack-overflow reports and in
    /// `Debug` output.
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Builder::new().name("worker").build(|(): ()| ())?;
    /// assert_eq!(fiber.as_ref().name(), Some("worker"));
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the usable stack size in bytes. It is rounded up to
    /// [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE) and to whole pages.
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Builder::new().stack_size(32 * 1024).build(|(): ()| ())?;
    /// assert_eq!(fiber.stack_size(), 32 * 1024);
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Creates the fiber, taking a stack from this thread's pool or mapping a
    /// new one. The fiber does not run until [`Fiber::start`].
    ///
    /// # Errors
    ///
    /// [`StackError::TooLarge`] for a stack size above
    /// [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE), and
    /// [`StackError::MapLimit`](crate::stack::StackError::MapLimit) when the
    /// stack would leave too few kernel mappings for the rest of the process
    /// (`vm.max_map_count`), and [`StackError::Map`] when the kernel refuses
    /// the mapping (an address-space limit). The error message names the knob
    /// to turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::Builder;
    ///
    /// let err = Builder::new().stack_size(usize::MAX).build::<(), (), (), _>(|()| ()).unwrap_err();
    /// assert!(err.to_string().contains("smaller stack_size"));
    /// ```
    pub fn build<I, O, R, F>(self, f: F) -> Result<Fiber<I, O, R>, StackError>
    where
        I: 'static,
        O: 'static,
        R: 'static,
        F: FnOnce(I) -> R + 'static,
    {
        Fiber::create(
            self.name.map(String::into_boxed_str),
            self.stack_size.unwrap_or(DEFAULT_STACK_SIZE),
            f,
        )
    }
}
