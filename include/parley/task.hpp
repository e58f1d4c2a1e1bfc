// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <cstddef>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

PARLEY_NAMESPACE_BEGIN

/// Work posted onto a lane: a copyable `void()` callable, used like
/// `std::function<void()>` (and convertible to one). Unlike std::function it
/// keeps callables of up to `inline_bytes` inside itself, so the two lane hops
/// of every chat message (a Client's inbound frame, then the Hub's message)
/// allocate nothing; larger ones go to the heap.
class Task {
public:
    /// Room for a Hub's chat message closure (its strings and reply reference).
    static constexpr std::size_t inline_bytes = 136;

    Task() noexcept = default;
    Task(std::nullptr_t) noexcept {}

    template <class F, class Fn = std::decay_t<F>,
              class = std::enable_if_t<!std::is_same_v<Fn, Task> && std::is_invocable_v<Fn&>>>
    Task(F&& f) {
        static_assert(std::is_copy_constructible_v<Fn>, "parley::Task: the callable must be copyable");
        // As std::function: a null function pointer or an empty std::function makes an empty Task.
        if constexpr (std::is_pointer_v<Fn> || std::is_member_pointer_v<Fn> ||
                      std::is_same_v<Fn, std::function<void()>>) {
            if (!f) return;
        }
        if constexpr (stored_inline<Fn>) {
            ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(f));
            ops_ = &inline_ops<Fn>;
        } else {
            *reinterpret_cast<Fn**>(storage_) = new Fn(std::forward<F>(f));
            ops_ = &heap_ops<Fn>;
        }
    }

    Task(const Task& other) {
        if (other.ops_) other.ops_->copy(other.storage_, storage_);
        ops_ = other.ops_;
    }
    Task(Task&& other) noexcept { take(other); }
    Task& operator=(const Task& other) {
        if (this != &other) *this = Task(other);
        return *this;
    }
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    Task& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }
    ~Task() { reset(); }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    /// Runs the callable; an empty Task throws std::bad_function_call, as std::function does.
    void operator()() const {
        if (!ops_) throw std::bad_function_call();
        ops_->call(storage_);
    }

private:
    struct Ops {
        void (*call)(void* at);
        void (*move)(void* from, void* to) noexcept;  // leaves `from` destroyed
        void (*copy)(const void* from, void* to);
        void (*destroy)(void* at) noexcept;
    };

    template <class Fn>
    static constexpr bool stored_inline = sizeof(Fn) <= inline_bytes &&
                                          alignof(Fn) <= alignof(std::max_align_t) &&
                                          std::is_nothrow_move_constructible_v<Fn>;

    template <class Fn>
    static Fn& inline_target(void* at) noexcept {
        return *std::launder(static_cast<Fn*>(at));
    }
    template <class Fn>
    static constexpr Ops inline_ops{
        [](void* at) { inline_target<Fn>(at)(); },
        [](void* from, void* to) noexcept {
            ::new (to) Fn(std::move(inline_target<Fn>(from)));
            inline_target<Fn>(from).~Fn();
        },
        [](const void* from, void* to) {
            ::new (to) Fn(inline_target<Fn>(const_cast<void*>(from)));
        },
        [](void* at) noexcept { inline_target<Fn>(at).~Fn(); },
    };

    template <class Fn>
    static Fn*& heap_target(void* at) noexcept {
        return *std::launder(static_cast<Fn**>(at));
    }
    template <class Fn>
    static constexpr Ops heap_ops{
        [](void* at) { (*heap_target<Fn>(at))(); },
        [](void* from, void* to) noexcept { ::new (to) Fn*(heap_target<Fn>(from)); },
        [](const void* from, void* to) {
            ::new (to) Fn*(new Fn(*heap_target<Fn>(const_cast<void*>(from))));
        },
        [](void* at) noexcept { delete heap_target<Fn>(at); },
    };

    void take(Task& other) noexcept {
        if (other.ops_) other.ops_->move(other.storage_, storage_);
        ops_ = other.ops_;
        other.ops_ = nullptr;
    }
    void reset() noexcept {
        if (ops_) ops_->destroy(storage_);
        ops_ = nullptr;
    }

    // mutable: a Task is called through const references (as std::function is),
    // and the callable it holds may change its own state when it runs.
    alignas(std::max_align_t) mutable unsigned char storage_[inline_bytes];
    const Ops* ops_ = nullptr;
};

PARLEY_NAMESPACE_END
