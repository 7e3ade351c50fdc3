# BPF C sources are compiled by clang at build time; the repo holds no objects.
find_program(CRIB_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
set(CRIB_BPF_OUT ${CMAKE_BINARY_DIR}/bpf)
set(CRIB_BPF_INCLUDE ${PROJECT_SOURCE_DIR}/bpf/include)
add_custom_target(crib_bpf_objects ALL)
# <linux/types.h> needs <asm/types.h>, which Debian keeps under the
# multiarch triplet that clang -target bpf does not search by itself.
execute_process(COMMAND gcc -print-multiarch OUTPUT_VARIABLE CRIB_MULTIARCH
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(CRIB_MULTIARCH AND EXISTS /usr/include/${CRIB_MULTIARCH})
  set(CRIB_BPF_SYS_INCLUDE -I/usr/include/${CRIB_MULTIARCH})
endif()

# crib_bpf_objects(GLOB_DIR) compiles every *.bpf.c in the folder to
# ${CRIB_BPF_OUT}/<name>.bpf.o.
function(crib_bpf_sources dir)
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.bpf.c)
  file(GLOB headers CONFIGURE_DEPENDS ${CRIB_BPF_INCLUDE}/*.h ${CRIB_BPF_INCLUDE}/crib/*.h ${dir}/*.h)
  foreach(src ${sources})
    get_filename_component(stem ${src} NAME_WE)
    set(out ${CRIB_BPF_OUT}/${stem}.bpf.o)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CRIB_BPF_OUT}
      COMMAND ${CRIB_CLANG} -target bpf -O2 -g -mcpu=v3 -D__TARGET_ARCH_x86
              -I${CRIB_BPF_INCLUDE} -I${dir} -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE}
              -c ${src} -o ${out}
      DEPENDS ${src} ${headers}
      COMMENT "clang -target bpf ${stem}.bpf.c"
      VERBATIM)
    string(MAKE_C_IDENTIFIER "bpf_${stem}_${dir}" target)
    add_custom_target(${target} DEPENDS ${out})
    add_dependencies(crib_bpf_objects ${target})
  endforeach()
endfunction()
